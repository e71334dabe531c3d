"""Batches for sink tests.

`column_batch` makes them as the shipper does (tracker._fast.TableBuffer, which
validates every value). `RowBatch` is a small pure-Python `Batch` that follows
the contract of tracker/sinks/base.py directly and validates nothing: the
sink tests use it to hand a store values the buffer would never let through
(an invalid UUID string, a wrongly typed value), to check the sink's own error
mapping.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from tracker._fast import ColumnBatch, TableBuffer
from tracker.model.tables import Kind, Table

ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.UUID: pa.string(),
    Kind.STR: pa.string(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP_MS: pa.timestamp("ms"),
    Kind.JSON: pa.string(),
    Kind.DECIMAL: pa.string(),
}


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


class RowBatch:
    def __init__(self, table: Table, rows: list[dict[str, Any]]) -> None:
        self.table = table
        self._rows = [dict(r) for r in rows]

    @property
    def num_rows(self) -> int:
        return len(self._rows)

    @property
    def nbytes(self) -> int:
        return len(orjson.dumps(self._rows))

    def to_arrow(self) -> pa.Table:
        arrays = []
        for col in self.table.columns:
            values = [r.get(col.name) for r in self._rows]
            if col.kind is Kind.JSON:
                values = [_json_text(v) for v in values]
            arrays.append(pa.array(values, ARROW_TYPES[col.kind]))
        return pa.Table.from_arrays(arrays, names=list(self.table.column_names))

    def slice(self, start: int, stop: int) -> RowBatch:
        return RowBatch(self.table, self._rows[start:stop])

    def rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows]


def column_batch(table: Table, rows: list[dict[str, Any]]) -> ColumnBatch:
    """The rows as the shipper's column buffer freezes them; every row must be valid."""
    buffer = TableBuffer(table)
    rejected = buffer.extend(rows)
    assert not rejected, f"the column buffer refused rows: {rejected}"
    return buffer.take()
