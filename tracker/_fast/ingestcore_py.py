"""What every loop turn that takes events runs of the log append (pure-Python
twin of ingestcore.pyx).

``IngestCore`` is the base of ``tracker.routes.ingest.Ingestor``: it holds the
turn's pending rows, adds rows to a table's open record (checking the quota
and committing when needed), and commits the common turn, one table's merged
rows, as one record (``WalCore.append_if_room``). Every other commit (several
records, a roll, an error) is Ingestor's ``_commit_general``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("tracker.routes.ingest")

_CLOSE = b"]"
RECORD_HEAD_SIZE = 13  # format.py's; tests/unit/test_fast_walcore.py checks it


class TablePending:
    """One table's rows of this turn: the small payloads' rows already spliced
    into one JSON array (open: its "]" is added at commit), the large payloads
    apart."""

    __slots__ = ("large", "merged", "merged_rows")

    def __init__(self) -> None:
        self.merged = bytearray()
        self.merged_rows = 0
        self.large: list[tuple[int, bytes]] = []  # (rows, payload)


class IngestCore:
    def __init__(self, writer: Any, commit_bytes: int) -> None:
        # table_id -> what this turn appended to it, not yet written.
        self._pending: dict[int, TablePending] = {}
        self._pending_bytes = 0  # the size of the records commit() would write
        # Pending bytes this turn's appends may reach without a commit or a
        # quota check: set by _make_room from the log's room at that time, 0
        # once a commit runs (the room is asked again at the next append).
        self._turn_limit = 0
        self.events_received = 0
        self.rejected_full = 0  # rows refused at the quota
        self.commit_bytes = commit_bytes  # pending bytes past which an append commits at once
        self._commit_scheduled = False
        self._writer = writer  # a WalWriter (a WalCore)
        self._loop: asyncio.AbstractEventLoop | None = None  # where _commit_soon went last

    def append_encoded(self, table_id: int, count: int, elements: bytes) -> None:
        """Add `count` rows, already JSON array elements joined by commas, to
        the turn's merged record of `table_id`. Only for a grouped log (fsync
        not "always"); raises WalFullError."""
        pending = self._pending.get(table_id)
        if pending is not None and pending.merged:
            size = len(elements) + 1
            if self._pending_bytes + size <= self._turn_limit:
                # The common case: one more row for the open record, within
                # the room _make_room found earlier in this turn.
                merged = pending.merged
                merged += b","
                merged += elements
                pending.merged_rows += count
                self._pending_bytes += size
                self.events_received += count
                return
        self._append_slow(table_id, count, elements)

    def _append_slow(self, table_id: int, count: int, elements: bytes) -> None:
        """`append_encoded` when the row opens a record, or may need a commit or
        the quota's check first."""
        found = self._pending.get(table_id)
        # A "," before the elements; or a "[" and the head of a new record.
        opening = found is None or not found.merged
        size = len(elements) + (2 + RECORD_HEAD_SIZE if opening else 1)
        self._make_room(size)
        if not opening and not self._pending:  # _make_room committed the open record
            size = len(elements) + 2 + RECORD_HEAD_SIZE
            opening = True
        pending = self._pending_for(table_id)
        pending.merged += b"[" if opening else b","
        pending.merged += elements
        pending.merged_rows += count
        self._pending_bytes += size
        self.events_received += count

    def _pending_for(self, table_id: int) -> TablePending:
        pending = self._pending.get(table_id)
        if pending is None:
            pending = self._pending[table_id] = TablePending()
        return pending

    def _make_room(self, size: int) -> None:
        """Before `size` more pending bytes: commit when over commit_bytes; raise
        WalFullError when the log's quota cannot take them; make sure the rows
        are committed by the end of the turn."""
        if self._pending_bytes + size > self.commit_bytes and self._pending_bytes:
            self.commit()
        room = self._writer.room()
        if self._pending_bytes + size > room:
            self.rejected_full += 1
            self._writer.check_room(self._pending_bytes + size)  # raises WalFullError
        if not self._commit_scheduled:
            # Normally the HTTP layer commits first; this makes sure rows never
            # wait for a later turn whatever happens to their answers.
            self._commit_scheduled = True
            loop = self._loop
            if loop is None or loop.is_closed():
                # Asked once per loop: asyncio asks the OS for the pid each time.
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._commit_soon)
        self._turn_limit = min(self.commit_bytes, room)

    def commit(self) -> None:
        """Write the pending rows, one merged record per table and each large
        payload as its own, in one write.

        On failure (disk full, I/O error) the rows stay pending for the next
        commit and the error is raised: whatever acknowledges them must not be sent.
        """
        self._turn_limit = 0
        pending = self._pending
        if not pending:
            return
        if len(pending) == 1:
            # The common turn: one table's merged rows, one record.
            ((table_id, table),) = pending.items()
            if table.merged_rows and not table.large and self._writer.append_if_room(
                    table_id, table.merged_rows, table.merged, _CLOSE):
                pending.clear()
                self._pending_bytes = 0
                return
        self._commit_general()

    def _commit_general(self) -> None:  # Ingestor's: several records, rolls, errors
        raise NotImplementedError

    def _commit_soon(self) -> None:
        self._commit_scheduled = False
        try:
            self.commit()
        except Exception:  # kept pending: the commit before the answers fails and logs
            log.debug("wal group append failed; the rows stay pending", exc_info=True)
