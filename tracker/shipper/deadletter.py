"""Rows a sink can never store: appended as JSON lines to `DataDirectory/deadletter/<sink>.jsonl`.

One line per row: {"sink", "table", "error", "row"}. Lines are fsynced before the
caller moves its cursor past the rows, so a dead letter is never lost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from tracker.shipper.cursor import check_sink_name


def deadletter_path(data_dir: Path, sink_name: str) -> Path:
    return Path(data_dir) / "deadletter" / f"{check_sink_name(sink_name)}.jsonl"


class DeadLetters:
    def __init__(self, path: Path, sink_name: str) -> None:
        self.path = Path(path)
        self.sink_name = sink_name
        self._count = 0
        self._lock = threading.Lock()  # `count` is read by the state publisher

    @property
    def count(self) -> int:
        """Rows dead-lettered by this process."""
        with self._lock:
            return self._count

    def add(self, table: str, rejected: Iterable[tuple[Any, str]]) -> int:
        """Append (row, error) pairs of `table`; returns how many were written."""
        lines = [
            orjson.dumps(
                {"sink": self.sink_name, "table": table, "error": error, "row": row},
                default=str,  # a row is meant to be JSON; never fail on one that is not
            )
            + b"\n"
            for row, error in rejected
        ]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
        with self._lock:
            self._count += len(lines)
        return len(lines)
