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
import logging
from typing import Any

import orjson

from tracker._fast import IngestCore, TablePending
from tracker.http import Response
from tracker.model.tables import Table
from tracker.wal import Syncer, WalFullError, WalWriter
from tracker.wal.format import RECORD_HEAD_SIZE

log = logging.getLogger(__name__)

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
    pending rows and the common single-row append (`append_encoded`) are
    `IngestCore`'s (tracker/_fast/ingestcore.pyx)."""

    def __init__(self, writer: WalWriter, syncer: Syncer):
        super().__init__()
        self._writer = writer
        self._syncer = syncer
        self._grouped = writer.fsync != "always"
        self._commit_scheduled = False
        self.rejected_full = 0

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

    def _append_slow(self, table_id: int, count: int, elements: bytes) -> None:
        """`append_encoded` when the row opens a record, or may need a commit or
        the quota's check first."""
        pending = self._pending.get(table_id)
        # A "," before the elements; or a "[" and the head of a new record.
        opening = pending is None or not pending.merged
        size = len(elements) + (2 + RECORD_HEAD_SIZE if opening else 1)
        self._make_room(size)
        if not opening and not self._pending:  # _make_room committed the open record
            size = len(elements) + 2 + RECORD_HEAD_SIZE
            opening = True
        if opening:
            pending = self._pending_for(table_id)
            pending.merged += b"["
        else:
            pending.merged += b","
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
        """Before `size` more pending bytes: commit when over COMMIT_BYTES; raise
        WalFullError when the log's quota cannot take them; make sure the rows
        are committed by the end of the turn."""
        if self._pending_bytes + size > COMMIT_BYTES and self._pending_bytes:
            self.commit()
        if not self._writer.has_room(self._pending_bytes + size):
            self.rejected_full += 1
            self._writer.check_room(self._pending_bytes + size)  # raises WalFullError
        if not self._commit_scheduled:
            # Normally the HTTP layer commits first; this makes sure rows never
            # wait for a later turn whatever happens to their answers.
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self._commit_soon)
        self._turn_limit = min(COMMIT_BYTES, self._writer.room())

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
        records = []
        for table_id, table in pending.items():
            if table.merged_rows:
                # A new buffer: on failure the pending one stays open for more rows.
                records.append((table_id, table.merged_rows, table.merged + b"]"))
            records += [(table_id, count, payload) for count, payload in table.large]
        if len(records) == 1:
            self._writer.append(*records[0])
        else:
            self._writer.append_many(records)
        pending.clear()
        self._pending_bytes = 0

    def _commit_soon(self) -> None:
        self._commit_scheduled = False
        try:
            self.commit()
        except Exception:  # kept pending: the commit before the answers fails and logs
            log.debug("wal group append failed; the rows stay pending", exc_info=True)

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
