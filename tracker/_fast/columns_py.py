"""Pure-Python twin of `columns.pyx`: the column buffers the shipper batches rows into.

This module is the test oracle: the compiled module must accept and reject the
same rows with the same messages, and produce equal Arrow tables, `rows()` and
`nbytes`.

Values by kind (a missing key or None is NULL; a NULL in a NOT NULL column is an error):
- uuid: a str in canonical 8-4-4-4-12 form, any case; stored lowercase.
- str: a str (valid UTF-8: no unpaired surrogates).
- int: an int (not bool) in int64 range.      ts: the same, as milliseconds.
- float: an int or float (not bool); NaN and ±inf are rejected, so every stored
  value compares equal to itself.
- bool: a bool.
- json: anything orjson can serialize; stored as its JSON text.
- decimal: see `kinds.normalize_decimal`.

`nbytes` is the size of the Arrow layout the compiled module holds: per column a
validity bitmap, then int32 offsets + UTF-8 bytes, 8 bytes a number, or a value
bitmap for bools.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from tracker._fast.ids_py import normalize_uuid
from tracker._fast.kinds import arrow_schema, normalize_decimal
from tracker.model.tables import Column, Kind, Table

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_STRING_KINDS = frozenset({Kind.UUID, Kind.STR, Kind.JSON, Kind.DECIMAL})


def _got(value: object) -> str:
    return type(value).__name__


def _utf8_size(text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8 text (unpaired surrogate)") from None


def _to_uuid(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected a UUID string, got {_got(value)}")
    text = normalize_uuid(value)
    if text is None:
        raise ValueError("not a valid UUID")
    return text


def _to_str(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_got(value)}")
    _utf8_size(value)
    return value


def _to_int64(value: Any, expected: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected {expected}, got {_got(value)}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("out of int64 range")
    return int(value)


def _to_int(value: Any) -> Any:
    return _to_int64(value, "an integer")


def _to_ts(value: Any) -> Any:
    return _to_int64(value, "integer milliseconds")


def _to_float(value: Any) -> Any:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"expected a number, got {_got(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("out of float64 range") from None
    if not math.isfinite(number):
        raise ValueError("must be finite")
    return number


def _to_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"expected a boolean, got {_got(value)}")
    return value


def _to_json(value: Any) -> Any:
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"not JSON-serializable ({exc})") from None


_COERCE: dict[Kind, Callable[[Any], Any]] = {
    Kind.UUID: _to_uuid,
    Kind.STR: _to_str,
    Kind.INT: _to_int,
    Kind.FLOAT: _to_float,
    Kind.BOOL: _to_bool,
    Kind.TIMESTAMP_MS: _to_ts,
    Kind.JSON: _to_json,
    Kind.DECIMAL: normalize_decimal,
}


def _layout_nbytes(table: Table, num_rows: int, string_bytes: list[int]) -> int:
    bitmap = (num_rows + 7) // 8
    total = 0
    for column, data_bytes in zip(table.columns, string_bytes, strict=True):
        total += bitmap
        if column.kind in _STRING_KINDS:
            total += 4 * (num_rows + 1) + data_bytes
        elif column.kind is Kind.BOOL:
            total += bitmap
        else:
            total += 8 * num_rows
    return total


class TableBuffer:
    """Rows of one table, appended one at a time; `take()` freezes them into a batch."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._schema = arrow_schema(table)
        self._coerce = [_COERCE[c.kind] for c in table.columns]
        self._reset()

    def _reset(self) -> None:
        self._values: list[list[Any]] = [[] for _ in self.table.columns]
        self._string_bytes = [0] * len(self.table.columns)
        self._num_rows = 0

    @property
    def num_rows(self) -> int:
        return self._num_rows

    @property
    def nbytes(self) -> int:
        return _layout_nbytes(self.table, self._num_rows, self._string_bytes)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row, or raise ValueError("<column>: <reason>") and add nothing."""
        if not isinstance(row, dict):
            raise ValueError(f"row: expected a dict, got {_got(row)}")
        staged = []
        for column, coerce in zip(self.table.columns, self._coerce, strict=True):
            staged.append(_coerce_cell(column, coerce, row.get(column.name)))
        for index, value in enumerate(staged):
            self._values[index].append(value)
            if isinstance(value, str):
                self._string_bytes[index] += len(value.encode("utf-8"))
        self._num_rows += 1

    def extend(self, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """Append every row; returns (index, error) for each row that was rejected."""
        rejected = []
        for index, row in enumerate(rows):
            try:
                self.append(row)
            except ValueError as exc:
                rejected.append((index, str(exc)))
        return rejected

    def take(self, limit: int | None = None) -> ColumnBatch:
        """Freeze the buffered rows, or the first `limit` of them, into a batch; the
        rest stay buffered (as the first rows of the next batch)."""
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        n = self._num_rows
        size = n if limit is None else min(limit, n)
        batch = ColumnBatch(self.table, self._schema, [v[:size] for v in self._values], size)
        rest = [v[size:] for v in self._values]
        self._reset()
        if size < n:
            self._values = rest
            self._string_bytes = [
                sum(len(v.encode("utf-8")) for v in values if isinstance(v, str))
                for values in rest
            ]
            self._num_rows = n - size
        return batch


def _coerce_cell(column: Column, coerce: Callable[[Any], Any], value: Any) -> Any:
    if value is None:
        if not column.nullable:
            raise ValueError(f"{column.name}: missing (column is NOT NULL)")
        return None
    try:
        return coerce(value)
    except ValueError as exc:
        raise ValueError(f"{column.name}: {exc}") from None


class ColumnBatch:
    """A frozen set of rows of one table (implements tracker.sinks.base.Batch)."""

    def __init__(
        self, table: Table, schema: pa.Schema, values: list[list[Any]], num_rows: int
    ) -> None:
        self.table = table
        self._schema = schema
        self._values = values
        self._num_rows = num_rows
        self._nbytes = _layout_nbytes(
            table,
            num_rows,
            [sum(len(v.encode("utf-8")) for v in vs if isinstance(v, str)) for vs in values],
        )

    @property
    def num_rows(self) -> int:
        return self._num_rows

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def to_arrow(self) -> pa.Table:
        arrays = [
            pa.array(values, type=field.type)
            for values, field in zip(self._values, self._schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def slice(self, start: int, stop: int) -> ColumnBatch:
        """Rows [start, stop) (Python slice rules) as a new batch."""
        start, stop, _ = slice(start, stop).indices(self._num_rows)
        stop = max(start, stop)
        values = [column[start:stop] for column in self._values]
        return ColumnBatch(self.table, self._schema, values, stop - start)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts; NULLs are left out, json comes back parsed."""
        out: list[dict[str, Any]] = [{} for _ in range(self._num_rows)]
        for column, values in zip(self.table.columns, self._values, strict=True):
            is_json = column.kind is Kind.JSON
            for row, value in zip(out, values, strict=True):
                if value is not None:
                    row[column.name] = orjson.loads(value) if is_json else value
        return out
