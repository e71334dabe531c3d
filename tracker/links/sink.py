"""LinksSink: the shipper keeps the link book current from the log's `redirect_history` rows.

It is a sink like the stores, so the shipper's machinery does the rest: a
durable cursor, replays after a crash (applying a change twice changes
nothing), retries. Its lag shows in /health as the sink `links`.
"""

from __future__ import annotations

from pathlib import Path

from tracker.links.book import LinkBook
from tracker.links.changes import ACTIONS
from tracker.model.tables import REDIRECT_HISTORY
from tracker.sinks.base import Batch, PermanentError, RetryableError

NAME = "links"


class LinksSink:
    name = NAME
    tables = (REDIRECT_HISTORY,)

    def __init__(self, path: Path):
        self._path = path
        self._book: LinkBook | None = None

    def open(self) -> None:
        if self._book is None:
            try:
                self._book = LinkBook.load(self._path)
            except OSError as e:
                raise RetryableError(f"{self.name}: cannot read {self._path}: {e}") from e

    def write(self, batch: Batch) -> None:
        self.open()  # again after a failed save
        assert self._book is not None
        rows = batch.rows()
        if any(row["action"] not in ACTIONS for row in rows):
            raise PermanentError(f"{self.name}: a change with an unknown action")
        if self._book.apply(rows):
            try:
                self._book.save(self._path)
            except OSError as e:
                # Reload at the retry: the book in memory is ahead of the file.
                self._book = None
                raise RetryableError(f"{self.name}: cannot write {self._path}: {e}") from e

    def close(self) -> None:
        self._book = None
