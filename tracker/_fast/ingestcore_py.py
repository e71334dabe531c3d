"""The part of the log append that every single event runs (pure-Python twin
of ingestcore.pyx).

``IngestCore`` is the base of ``tracker.routes.ingest.Ingestor``: it holds the
turn's pending rows and adds a row to a table's open record while the room
``Ingestor._make_room`` found at the turn's first append lasts. Everything
else (opening a record, commits, the quota) is Ingestor's ``_append_slow``.
"""

from __future__ import annotations


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
    def __init__(self) -> None:
        # table_id -> what this turn appended to it, not yet written.
        self._pending: dict[int, TablePending] = {}
        self._pending_bytes = 0  # the size of the records commit() would write
        # Pending bytes this turn's appends may reach without a commit or a
        # quota check: set by _make_room from the log's room at that time, 0
        # once a commit runs (the room is asked again at the next append).
        self._turn_limit = 0
        self.events_received = 0

    def _append_slow(self, table_id: int, count: int, elements: bytes) -> None:  # Ingestor's
        raise NotImplementedError

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
