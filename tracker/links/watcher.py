"""The workers' copy of the link book: reloaded when the file changes, resolved from memory."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from tracker._fast import host_without_port
from tracker.links.book import LinkBook
from tracker.links.changes import is_newer, link_key, newest_changes, row_key

log = logging.getLogger(__name__)
# How often a worker looks at the file: a new link resolves everywhere within
# about this plus the shipper's delivery delay (tens of milliseconds).
CHECK_SECONDS = 0.25


class LinkTable:
    def __init__(self, path: Path):
        self._path = path
        self._links: dict[str, dict[str, Any]] = {}  # live links by key
        self._book: dict[str, dict[str, Any]] = {}  # the file's changes, tombstones included
        self._recent: dict[str, dict[str, Any]] = {}  # this worker's changes the file lacks
        self._seen: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) loaded

    def resolve(self, host: str, path: str) -> dict[str, Any] | None:
        """The live link for a request's Host (port and case ignored) and path."""
        return self._links.get(link_key(host_without_port(host), path))

    def remember(self, row: dict[str, Any]) -> None:
        """A change this worker just made durable: in force here at once, not
        only when the shipper has put it in the file."""
        self._recent[row_key(row)] = row
        self._update(self._book)

    def _update(self, book: dict[str, dict[str, Any]]) -> None:
        self._book = book
        self._recent = {k: r for k, r in self._recent.items() if is_newer(r, book.get(k))}
        merged = newest_changes(self._recent.values(), into=dict(book))
        self._links = {k: r for k, r in merged.items() if r["action"] != "delete"}

    def changed(self) -> bool:
        """True when the file differs from the one loaded last (a stat, no read)."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return self._seen is not None
        return (st.st_ino, st.st_size, st.st_mtime_ns) != self._seen

    def reload(self) -> None:
        """Read the file and take it (blocking: `watch_forever` reads off the loop)."""
        self._take(*_read(self._path))

    def _take(self, book: dict[str, dict[str, Any]], seen: tuple[int, int, int] | None) -> None:
        self._seen = seen
        self._update(book)

    async def watch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.changed():
                try:
                    # Read in a thread, take on the loop: only the loop changes the table.
                    self._take(*await loop.run_in_executor(None, _read, self._path))
                except (OSError, ValueError) as e:
                    log.warning("cannot read the short links file: %s", e)
            await asyncio.sleep(CHECK_SECONDS)


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], tuple[int, int, int] | None]:
    """The file's changes and the stat they were read under ({} and None: no file)."""
    try:
        st = os.stat(path)
        return LinkBook.load(path).changes(), (st.st_ino, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        return {}, None
