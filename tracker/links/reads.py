"""The shipper's answer to "which links does this host have": the book plus the log's tail.

A change acknowledged a moment ago may not be in the book yet; the rows after
the links sink's saved cursor are. The cursor is read before the book: the
book is saved before the cursor moves past its rows, so nothing falls between.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracker.links.book import LinkBook, links_path
from tracker.links.sink import NAME
from tracker.model.tables import REDIRECT_HISTORY
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.reads import undelivered_rows


class LinkReads:
    def __init__(self, data_dir: Path):
        self._path = links_path(data_dir)
        self._wal_root = data_dir / "wal"
        self._cursors = CursorStore(cursor_path(data_dir, NAME))

    def for_host(self, host: str) -> list[dict[str, Any]]:
        """The host's live links, each as its newest change row, by urlfrom."""
        positions = self._cursors.load()
        book = LinkBook.load(self._path)
        book.apply(undelivered_rows(self._wal_root, positions, REDIRECT_HISTORY,
                                    lambda row: row.get("host") == host))
        return book.for_host(host)
