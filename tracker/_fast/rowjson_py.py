"""Pure-Python twin of `rowjson.pyx`: a log record's JSON rows into a TableBuffer.

This is the contract the compiled module must keep, exactly: the same rows
appended, the same rejections with the same messages, the same None.
"""

from __future__ import annotations

from typing import Any

import orjson

from tracker.model.tables import Table


class JsonRows:
    """Appends the rows of one table's records (the compiled module keeps its key table here)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def extend(self, buffer: Any, payload: bytes) -> list[tuple[int, str]] | None:
        """`buffer.extend(orjson.loads(payload))`; None, appending nothing, when the
        payload is not a JSON array."""
        if buffer.table is not self.table:
            raise ValueError("the buffer holds another table")
        if not isinstance(payload, bytes):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        try:
            rows = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(rows, list):
            return None
        return buffer.extend(rows)
