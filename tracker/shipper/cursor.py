"""The durable cursor of one sink: how far it has delivered each worker's log.

`DataDirectory/wal/cursors/<sink>.json` maps a worker directory name ("w0") to
{"segment", "offset", "events"}: the position just past the last record whose
rows are all stored (or dead-lettered) by the sink. Delivery restarts there.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from tracker.atomicfile import write_atomic
from tracker.wal import Position

# Sink names become file names: keep them to a safe alphabet.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_sink_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"sink name {name!r} must match {_SAFE_NAME.pattern}")
    return name


def cursor_path(data_dir: Path, sink_name: str) -> Path:
    return Path(data_dir) / "wal" / "cursors" / f"{check_sink_name(sink_name)}.json"


class CursorStore:
    """Load and atomically save one sink's positions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Position]:
        """The saved positions; {} when nothing was saved yet."""
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        if not isinstance(raw, dict):
            raise ValueError(f"{self.path}: expected a JSON object")
        out = {}
        for name, pos in raw.items():
            try:
                out[name] = Position(
                    segment=int(pos["segment"]),
                    offset=int(pos["offset"]),
                    events=int(pos["events"]),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{self.path}: bad position for {name!r}: {pos!r}") from exc
        return out

    def save(self, positions: dict[str, Position]) -> None:
        doc = {
            name: {"segment": p.segment, "offset": p.offset, "events": p.events}
            for name, p in sorted(positions.items())
        }
        write_atomic(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
