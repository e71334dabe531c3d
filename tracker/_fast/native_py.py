"""Pure-Python twin of `native.pyx`: a ColumnBatch as one ClickHouse Native block.

This module is the test oracle: the compiled encoder must produce the same
bytes and raise the same errors. It reads the batch through `to_arrow()`, one
Python value per cell, and writes each value the obvious way.

The block is what `INSERT INTO t FORMAT Native` reads over HTTP (no BlockInfo,
which only the TCP protocol carries): varint number of columns, varint number
of rows, then per column its name and type as strings (varint length + UTF-8)
and its data. A block of zero rows carries no column data at all.

Column data (little-endian throughout):
- String: varint length + bytes per row.   UUID: 16 bytes, the high 64 bits as
  UInt64 then the low 64 bits as UInt64.   Integers, floats: their width.
- Bool, UInt8 from bool: one byte 0/1.   DateTime: UInt32 seconds (floor of ms).
- DateTime64(P): Int64 in 10^-P seconds.   Decimal(P, S): Int32 (P <= 9) or
  Int64 of the value times 10^S, parsed exactly from the decimal text.
- Nullable(T): one byte per row (1 = NULL), then T's data with T's default
  (0, empty string, zero UUID) in the NULL slots. A NULL sent to a type that is
  not Nullable is also written as the default, as ClickHouse does with
  `input_format_null_as_default`.
- LowCardinality(String / Nullable(String)): UInt64 keys version (1), UInt64
  flags | index width code, UInt64 dictionary size, the dictionary as Strings,
  UInt64 number of rows, one index per row in the smallest unsigned width that
  holds the largest index. The dictionary lists distinct values in order of
  first appearance; for Nullable(String) its entry 0 (an empty string) stands
  for NULL and the values follow.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tracker._fast.native_types import (
    DATETIME_MAX,
    INTEGER_TYPES,
    LC_FLAGS,
    LC_KEYS_VERSION,
    NativeType,
    PlannedColumn,
    lc_index_width,
    plan_block,
)
from tracker.model.tables import Kind

_DECIMAL_TEXT = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_INT_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}
_UINT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_MS_PER_SECOND = 1000


def encode_block(batch: Any, columns: Sequence[tuple[str, str]]) -> bytes:
    """`batch` (any ColumnBatch) as a Native block of `columns` (name, ClickHouse type)."""
    planned = plan_block(batch.table, columns)
    num_rows = batch.num_rows
    out = bytearray()
    _varint(out, len(planned))
    _varint(out, num_rows)
    arrow = batch.to_arrow() if num_rows else None
    for plan in planned:
        _string(out, plan.name.encode("utf-8"))
        _string(out, plan.type.text.encode("utf-8"))
        if arrow is None:
            continue  # zero rows: no data at all
        values = _python_values(arrow.column(plan.index), plan.column.kind)
        if plan.type.low_cardinality:
            _write_low_cardinality(out, values, plan.type.nullable)
            continue
        if plan.type.nullable:
            out += bytes(1 if value is None else 0 for value in values)
        for value in values:
            out += _encode_value(plan, value)
    return bytes(out)


def _python_values(array: pa.ChunkedArray, kind: Kind) -> list[Any]:
    if kind is Kind.TIMESTAMP_MS:
        array = array.cast(pa.int64())
    return array.to_pylist()


def _varint(out: bytearray, number: int) -> None:
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)


def _string(out: bytearray, data: bytes) -> None:
    _varint(out, len(data))
    out += data


def _encode_value(plan: PlannedColumn, value: Any) -> bytes:
    """One cell in its type's binary form; None becomes the type's default."""
    native = plan.type
    base = native.base
    if base == "String":
        out = bytearray()
        _string(out, b"" if value is None else value.encode("utf-8"))
        return bytes(out)
    if base == "UUID":
        return _uuid_bytes(plan.name, value)
    if value is None:
        return bytes(native.width)
    if base == "Float64":
        return struct.pack("<d", value)
    if base == "Float32":
        try:
            return struct.pack("<f", value)
        except OverflowError:
            raise ValueError(f"{plan.name}: {value!r} is out of range for Float32") from None
    if base == "Bool" or plan.column.kind is Kind.BOOL:
        return b"\x01" if value else b"\x00"
    if base == "Decimal":
        return _decimal_bytes(plan.name, native, value)
    if base == "DateTime":
        seconds = value // _MS_PER_SECOND
        if not 0 <= seconds <= DATETIME_MAX:
            raise ValueError(f"{plan.name}: {value} is out of range for {native.text}")
        return struct.pack("<I", seconds)
    if base == "DateTime64":
        scaled = _scale_ms(value, native.scale)
        if not -(1 << 63) <= scaled < (1 << 63):
            raise ValueError(f"{plan.name}: {value} is out of range for {native.text}")
        return struct.pack("<q", scaled)
    width, lowest, highest = INTEGER_TYPES[base]
    if not lowest <= value <= highest:
        raise ValueError(f"{plan.name}: {value} is out of range for {native.text}")
    formats = _UINT_FORMATS if base.startswith("U") else _INT_FORMATS
    return struct.pack("<" + formats[width], value)


def _uuid_bytes(name: str, text: str | None) -> bytes:
    if text is None:
        return bytes(16)
    if _UUID_TEXT.fullmatch(text) is None:
        raise ValueError(f"{name}: not a valid UUID")
    number = int(text.replace("-", ""), 16)
    return struct.pack("<QQ", number >> 64, number & ((1 << 64) - 1))


def _scale_ms(ms: int, scale: int) -> int:
    """Milliseconds in units of 10^-scale seconds (floor when coarser)."""
    if scale >= 3:
        return ms * 10 ** (scale - 3)
    return ms // 10 ** (3 - scale)


def _decimal_bytes(name: str, native: NativeType, text: str) -> bytes:
    match = _DECIMAL_TEXT.fullmatch(text)
    if match is None:
        raise ValueError(f"{name}: not a valid decimal")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    kept, dropped = fraction[: native.scale], fraction[native.scale :]
    if dropped.strip("0"):
        raise ValueError(f"{name}: {text} has more decimals than {native.text}")
    scaled = int(whole + kept.ljust(native.scale, "0"))
    if scaled >= 10**native.precision:
        raise ValueError(f"{name}: {text} is out of range for {native.text}")
    if sign == "-":
        scaled = -scaled
    return struct.pack("<i" if native.width == 4 else "<q", scaled)


def _write_low_cardinality(out: bytearray, values: list[str | None], nullable: bool) -> None:
    positions: dict[bytes, int] = {}
    first = 1 if nullable else 0  # entry 0 stands for NULL
    keys = []
    for value in values:
        if value is None and nullable:
            keys.append(0)
            continue
        data = b"" if value is None else value.encode("utf-8")
        keys.append(positions.setdefault(data, len(positions)) + first)
    dictionary = [b""] * first + list(positions)
    code, width = lc_index_width(len(dictionary))
    out += struct.pack("<QQQ", LC_KEYS_VERSION, LC_FLAGS | code, len(dictionary))
    for entry in dictionary:
        _string(out, entry)
    out += struct.pack("<Q", len(values))
    out += struct.pack(f"<{len(keys)}{_UINT_FORMATS[width]}", *keys)
