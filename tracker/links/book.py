"""The newest change per short link, kept in one JSON file under DataDirectory.

Written only by the shipper (LinksSink), atomically, so the workers that read
it always see a whole file. Deletes stay in the book as tombstones: a change
replayed from the log after a crash must not bring a deleted link back, and
the tombstone is what makes it lose (it is newer).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tracker.atomicfile import write_atomic
from tracker.links.changes import newest_changes

FORMAT_VERSION = 1


def links_path(data_directory: Path) -> Path:
    return data_directory / "links.json"


class LinkBook:
    def __init__(self, changes: dict[str, dict[str, Any]] | None = None):
        self._changes = changes or {}

    @classmethod
    def load(cls, path: Path) -> LinkBook:
        """The book in `path`; empty when there is no file yet."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return cls()
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a links file this version can read")
        return cls(newest_changes(data["changes"]))

    def save(self, path: Path) -> None:
        data = {"version": FORMAT_VERSION, "changes": list(self._changes.values())}
        write_atomic(path, orjson.dumps(data), 0o600)

    def apply(self, rows: Iterable[dict[str, Any]]) -> bool:
        """Take the changes that are newer than what the book holds; True if any was."""
        before = {key: row["hid"] for key, row in self._changes.items()}
        newest_changes(rows, into=self._changes)
        return any(before.get(key) != row["hid"] for key, row in self._changes.items())

    def changes(self) -> dict[str, dict[str, Any]]:
        """The newest change by link key, tombstones included."""
        return dict(self._changes)

    def links(self) -> dict[str, dict[str, Any]]:
        """The live links by key (tombstones left out)."""
        return {key: row for key, row in self._changes.items() if row["action"] != "delete"}

    def for_host(self, host: str) -> list[dict[str, Any]]:
        """The live links of `host`, by urlfrom."""
        found = [row for row in self._changes.values()
                 if row["host"] == host and row["action"] != "delete"]
        return sorted(found, key=lambda row: row["urlfrom"])
