"""ClickHouse column types as the Native encoders (native.pyx, native_py.py) understand them.

`plan_block` checks a table's columns against the (name, type) pairs the server
reports and says, per column, which batch column feeds it and how. Shared by
the compiled encoder and its twin, so both accept and reject the same things.

Supported types (optionally `Nullable(...)`; `LowCardinality(...)` around
`String` or `Nullable(String)` only), and the kinds that may feed them:

    String                      uuid (its text), str, json, decimal (its text)
    UUID                        uuid
    Int8..Int64, UInt8..UInt64  int; ts (raw milliseconds)
    Float32, Float64            float
    Bool, UInt8                 bool
    DateTime[('tz')]            ts (seconds, floor)
    DateTime64(P[, 'tz'])       ts (scaled from milliseconds to 10^-P s, floor)
    Decimal(P, S), Decimal32(S), Decimal64(S) (P <= 18)   decimal
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tracker.model.tables import Column, Kind, Table

# base type -> (bytes per value, smallest value, largest value); ranges of the int64 source.
INTEGER_TYPES: dict[str, tuple[int, int, int]] = {
    "Int8": (1, -(1 << 7), (1 << 7) - 1),
    "Int16": (2, -(1 << 15), (1 << 15) - 1),
    "Int32": (4, -(1 << 31), (1 << 31) - 1),
    "Int64": (8, -(1 << 63), (1 << 63) - 1),
    "UInt8": (1, 0, (1 << 8) - 1),
    "UInt16": (2, 0, (1 << 16) - 1),
    "UInt32": (4, 0, (1 << 32) - 1),
    "UInt64": (8, 0, (1 << 63) - 1),  # the source is int64
}
DATETIME_MAX = (1 << 32) - 1  # DateTime is UInt32 seconds
MAX_DATETIME64_SCALE = 9
MAX_DECIMAL_PRECISION = 18  # Decimal32 / Decimal64; wider decimals are not supported

# LowCardinality serialization: keys version 1 (shared dictionaries with additional
# keys); per block the flags "has additional keys" and "need update dictionary"
# with the index width code (0: UInt8, 1: UInt16, 2: UInt32, 3: UInt64) in the low byte.
LC_KEYS_VERSION = 1
LC_FLAGS = (1 << 9) | (1 << 10)

_ACCEPTS: dict[Kind, frozenset[str]] = {
    Kind.UUID: frozenset({"UUID", "String"}),
    Kind.STR: frozenset({"String"}),
    Kind.JSON: frozenset({"String"}),
    Kind.DECIMAL: frozenset({"Decimal", "String"}),
    Kind.INT: frozenset(INTEGER_TYPES),
    Kind.TIMESTAMP_MS: frozenset({"DateTime", "DateTime64", *INTEGER_TYPES}),
    Kind.FLOAT: frozenset({"Float32", "Float64"}),
    Kind.BOOL: frozenset({"UInt8", "Bool"}),
}

_WRAPPER = re.compile(r"(Nullable|LowCardinality)\((.*)\)")
_TZ = r"(?:\s*,\s*'[^']*')?"
_DATETIME = re.compile(r"DateTime(?:\(\s*'[^']*'\s*\))?")
_DATETIME64 = re.compile(rf"DateTime64\(\s*(\d+){_TZ}\s*\)")
_DECIMAL = re.compile(r"Decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_DECIMAL_N = re.compile(r"Decimal(32|64)\(\s*(\d+)\s*\)")
_DECIMAL_N_PRECISION = {"32": 9, "64": 18}


@dataclass(frozen=True, slots=True)
class NativeType:
    """A parsed ClickHouse type: `base` with its wrappers and parameters."""

    text: str  # as given; sent in the block
    base: str  # "String", "UUID", "Int32", "Float64", "Bool", "DateTime", "DateTime64", "Decimal"
    nullable: bool = False
    low_cardinality: bool = False
    width: int = 0  # bytes per value; 0 for String
    scale: int = 0  # DateTime64 precision, Decimal scale
    precision: int = 0  # Decimal precision


def parse_type(text: str) -> NativeType:
    """Parse a type string as DESCRIBE TABLE prints it; ValueError when unsupported."""
    inner = text.strip()
    nullable = low_cardinality = False
    while match := _WRAPPER.fullmatch(inner):
        wrapper, inner = match.group(1), match.group(2).strip()
        if wrapper == "LowCardinality":
            if low_cardinality or nullable:
                raise ValueError(f"unsupported ClickHouse type {text!r}")
            low_cardinality = True
        else:
            if nullable:
                raise ValueError(f"unsupported ClickHouse type {text!r}")
            nullable = True
    if low_cardinality and inner != "String":
        raise ValueError(f"unsupported ClickHouse type {text!r} (LowCardinality of String only)")
    base = _parse_base(inner)
    if base is None:
        raise ValueError(f"unsupported ClickHouse type {text!r}")
    name, width, scale, precision = base
    return NativeType(text, name, nullable, low_cardinality, width, scale, precision)


def _parse_base(inner: str) -> tuple[str, int, int, int] | None:
    """(base, width, scale, precision) of a type without wrappers, or None."""
    if inner in INTEGER_TYPES:
        return inner, INTEGER_TYPES[inner][0], 0, 0
    fixed = {"String": 0, "UUID": 16, "Float32": 4, "Float64": 8, "Bool": 1}
    if inner in fixed:
        return inner, fixed[inner], 0, 0
    if _DATETIME.fullmatch(inner):
        return "DateTime", 4, 0, 0
    if match := _DATETIME64.fullmatch(inner):
        scale = int(match.group(1))
        return ("DateTime64", 8, scale, 0) if scale <= MAX_DATETIME64_SCALE else None
    if match := _DECIMAL.fullmatch(inner):
        precision, scale = int(match.group(1)), int(match.group(2))
    elif match := _DECIMAL_N.fullmatch(inner):
        precision, scale = _DECIMAL_N_PRECISION[match.group(1)], int(match.group(2))
    else:
        return None
    if not 1 <= precision <= MAX_DECIMAL_PRECISION or scale > precision:
        return None
    return "Decimal", 4 if precision <= 9 else 8, scale, precision


@dataclass(frozen=True, slots=True)
class PlannedColumn:
    """One column of a block: where its values come from and how they are written."""

    name: str
    index: int  # position in batch.table.columns (and in the compiled batch's column_data)
    column: Column
    type: NativeType


def plan_block(table: Table, columns: Sequence[tuple[str, str]]) -> list[PlannedColumn]:
    """Match (name, ClickHouse type) pairs to `table`'s columns; ValueError when impossible."""
    positions = {c.name: i for i, c in enumerate(table.columns)}
    planned = []
    seen = set()
    for name, type_text in columns:
        if name in seen:
            raise ValueError(f"{name}: named twice")
        seen.add(name)
        index = positions.get(name)
        if index is None:
            raise ValueError(f"{name}: not a column of table {table.name}")
        column = table.columns[index]
        try:
            native = parse_type(type_text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if native.base not in _ACCEPTS[column.kind]:
            raise ValueError(f"{name}: a {column.kind.value} column cannot be sent as {type_text}")
        planned.append(PlannedColumn(name, index, column, native))
    return planned


def lc_index_width(dictionary_size: int) -> tuple[int, int]:
    """(width code, bytes) of the smallest unsigned type that holds every key < size."""
    largest = dictionary_size - 1
    if largest <= 0xFF:
        return 0, 1
    if largest <= 0xFFFF:
        return 1, 2
    if largest <= 0xFFFFFFFF:
        return 2, 4
    return 3, 8
