"""Appending accepted rows to this worker's write-ahead log before acknowledging.

Group append (`append(..., grouped=True)`, for answers that leave through the
HTTP layer): with the fsync policies "interval" and "never", the rows of one
event-loop turn are written together by `commit()`, with one write: the small
payloads of a table (single events) merged into one record, so the shipper
reads one record rather than dozens, and each large one (a batch) as a record
of its own, so it is not copied. The HTTP layer calls `commit()` before it writes
the turn's answers (ServerState's `before_write`), so an answer still never
leaves before the rows it acknowledges are in the log; a failed commit keeps
the rows and the answers are not sent (their connections are aborted). The
policy "always" writes at once: its group commit is the fsync (Syncer).
Without `grouped` the rows are written before `append` returns, for callers
that acknowledge by other ways (a WebSocket ack frame).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tracker._fast import IngestCore
from tracker.http import Response
from tracker.model.tables import Table
from tracker.wal import Syncer, WalFullError, WalWriter
from tracker.wal.format import RECORD_HEAD_SIZE

# Clients are told to come back after this many seconds when the log is full.
WAL_FULL_RETRY_AFTER = 5
# Pending bytes past which an append commits at once: keeps a record far below
# the log's record size limit when one turn reads many large batches.
COMMIT_BYTES = 1 << 20
# Payloads smaller than this are merged into one record per table at commit;
# larger ones (batches) are records of their own, written without a copy.
MERGE_BELOW_BYTES = 4096


class Ingestor(IngestCore):
    """The only way rows enter the log from the request path. The turn's
    pending rows, the single-row append (`append_encoded`), the quota's check
    and the common commit are `IngestCore`'s (tracker/_fast/ingestcore.pyx)."""

    def __init__(self, writer: WalWriter, syncer: Syncer):
        super().__init__(writer, COMMIT_BYTES)
        self._syncer = syncer
        self._grouped = writer.fsync != "always"

    def append(self, table: Table, rows: list[dict[str, Any]], *,
               grouped: bool = False) -> asyncio.Future[Any] | None:
        """Append `rows`. Returns a future to await before answering when the
        fsync policy is "always", else None. Raises WalFullError.

        `grouped`: the answer goes out through the HTTP layer, which commits
        first; the rows may wait for the end of the loop turn (module docstring).
        """
        count = len(rows)
        if not count:
            return None
        payload = orjson.dumps(rows)
        if not (grouped and self._grouped):
            try:
                self._writer.append(table.table_id, count, payload)
            except WalFullError:
                self.rejected_full += 1
                raise
            self.events_received += count
            return self._syncer.durable()
        self.append_array(table.table_id, count, payload)
        return None

    def append_array(self, table_id: int, count: int, payload: bytes) -> None:
        """Add `count` rows, already one JSON array, to the turn's group append.
        Only for a grouped log (fsync not "always"); raises WalFullError."""
        if len(payload) < MERGE_BELOW_BYTES:
            # The array's elements, spliced into the table's merged record.
            self.append_encoded(table_id, count, payload[1:-1])
        else:
            self._make_room(RECORD_HEAD_SIZE + len(payload))
            self._pending_for(table_id).large.append((count, payload))
            self._pending_bytes += RECORD_HEAD_SIZE + len(payload)
            self.events_received += count

    def append_row(self, table: Table, row: dict[str, Any]) -> asyncio.Future[Any] | None:
        """``append(table, [row], grouped=True)``, for the most frequent request:
        the row is encoded straight into the turn's merged record."""
        if not self._grouped:
            return self.append(table, [row])
        self.append_encoded(table.table_id, 1, orjson.dumps(row))
        return None

    def _commit_general(self) -> None:
        """`commit()` for every turn but the common one: several records (more
        tables, large payloads), a roll, the quota, a failed write."""
        records = []
        for table_id, table in self._pending.items():
            if table.merged_rows:
                # A new buffer: on failure the pending one stays open for more rows.
                records.append((table_id, table.merged_rows, table.merged + b"]"))
            records += [(table_id, count, payload) for count, payload in table.large]
        if len(records) == 1:
            self._writer.append(*records[0])
        else:
            self._writer.append_many(records)
        self._pending.clear()
        self._pending_bytes = 0

    @property
    def grouped(self) -> bool:
        """Whether rows of a turn are written together (fsync not "always")."""
        return self._grouped

    @property
    def wal_bytes(self) -> int:
        return self._writer.bytes_on_disk

    @property
    def appended_events(self) -> int:
        return self._writer.appended_events


async def after_durable(durable: asyncio.Future[Any], response: Any) -> Any:
    """Answer with `response` once `durable` (the fsync of "always") completed."""
    await durable
    return response


def wal_full(headers: Any = ()) -> Response:
    """The answer while the log is at its quota: retry later, nothing was stored."""
    return Response.error(503, "the server is overloaded; retry later",
                          [*headers, ("Retry-After", str(WAL_FULL_RETRY_AFTER))])
