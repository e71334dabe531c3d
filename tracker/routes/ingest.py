"""Appending accepted rows to this worker's write-ahead log before acknowledging."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tracker.model.tables import Table
from tracker.wal import Syncer, WalFullError, WalWriter

# Clients are told to come back after this many seconds when the log is full.
WAL_FULL_RETRY_AFTER = 5


class Ingestor:
    """The only way rows enter the log from the request path."""

    def __init__(self, writer: WalWriter, syncer: Syncer):
        self._writer = writer
        self._syncer = syncer
        self.events_received = 0
        self.rejected_full = 0

    def append(self, table: Table, rows: list[dict[str, Any]]) -> asyncio.Future[Any] | None:
        """Append `rows` as one record. Returns a future to await before answering
        when the fsync policy is "always", else None. Raises WalFullError."""
        payload = orjson.dumps(rows)
        try:
            self._writer.append(table.table_id, len(rows), payload)
        except WalFullError:
            self.rejected_full += 1
            raise
        self.events_received += len(rows)
        return self._syncer.durable()

    @property
    def wal_bytes(self) -> int:
        return self._writer.bytes_on_disk

    @property
    def appended_events(self) -> int:
        return self._writer.appended_events
