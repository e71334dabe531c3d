"""Reads for the routes (consent history, ...): the store's rows plus the log's tail.

A row acknowledged a moment ago may still be in a worker's log, not yet in the
store. Merging what the store holds with the records after the sink's saved
cursor makes every acknowledged write readable at once. Rows found in both
(the cursor is saved at most every 100 ms) are merged by the table's key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tracker.model.tables import Table
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.sinks.base import ReadableSink, Sink
from tracker.wal import Position, WalReader, list_worker_dirs, segment_files

# How much of each worker's log before its newest segment a read scans at most:
# reads stay fast while a store is far behind (rows older than that are in the
# store or will be).
TAIL_SCAN_BYTES = 64 << 20


class ReadService:
    def __init__(self, data_dir: Path, sink: Sink):
        if not isinstance(sink, ReadableSink):
            raise TypeError(f"store {sink.name} cannot answer reads")
        self._sink = sink
        self._wal_root = data_dir / "wal"
        self._cursors = CursorStore(cursor_path(data_dir, sink.name))

    def rows(self, table: Table, column: str, value: str, limit: int = 1000
             ) -> list[dict[str, Any]]:
        """Rows whose `column` equals `value`, newest first."""
        # The cursor before the store: rows stored after the cursor was read are
        # also in the tail; the other order could miss rows delivered in between.
        positions = self._cursors.load()
        stored = self._sink.read_rows(table, column, value, limit)  # type: ignore[attr-defined]
        merged = {row[table.key]: row for row in stored}
        pending = undelivered_rows(self._wal_root, positions, table,
                                   lambda row: row.get(column) == value)
        for row in pending:
            merged.setdefault(row[table.key], row)
        newest_first = sorted(merged.values(), key=lambda r: r.get(table.time_column, 0),
                              reverse=True)
        return newest_first[:limit]


def undelivered_rows(wal_root: Path, positions: dict[str, Position], table: Table,
                     keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The rows of `table` in every worker's log after a sink's saved `positions`
    (the newest segment and at most TAIL_SCAN_BYTES before it, per log) for which
    `keep` is true."""
    found = []
    for directory in list_worker_dirs(wal_root):
        reader = WalReader(directory, _scan_start(directory, positions.get(directory.name)))
        try:
            while records := reader.read(max_records=10_000, max_bytes=8 << 20):
                for record in records:
                    if record.table_id == table.table_id:
                        found.extend(r for r in orjson.loads(record.payload) if keep(r))
        finally:
            reader.close()
    return found


def _scan_start(directory: Path, cursor: Position | None) -> Position | None:
    """The cursor, or a later segment start when the tail after it is too long to
    scan: the newest segment is always scanned and not counted (its file may be
    a reused one, longer than its records), then older ones up to TAIL_SCAN_BYTES."""
    segments = segment_files(directory)
    if not segments:
        return cursor
    start_seq = segments[-1][0]
    total = 0
    for seq, path in reversed(segments[:-1]):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # retired meanwhile
            continue
        start_seq = seq
        if total >= TAIL_SCAN_BYTES:
            break
    if cursor is not None and cursor.segment >= start_seq:
        return cursor
    return Position(start_seq, 0, 0)
