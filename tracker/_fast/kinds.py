"""Rules of column kinds shared by columns.pyx and its twin columns_py.py.

The Arrow type of each kind, and the normalization of decimal values (the
compiled module has a C fast path for plain decimal text and small ints, and
falls back to `normalize_decimal` for everything else).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal, DecimalException

import pyarrow as pa

from tracker.model.tables import Kind, Table

ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.UUID: pa.string(),
    Kind.STR: pa.string(),
    Kind.JSON: pa.string(),
    Kind.DECIMAL: pa.string(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOL: pa.bool_(),
    Kind.TIMESTAMP_MS: pa.timestamp("ms", tz=None),
}

# DECIMAL(18,4): 14 digits before the point, 4 after.
DECIMAL_INT_DIGITS = 14
DECIMAL_SCALE = 4
DECIMAL_OUT_OF_RANGE = "out of DECIMAL(18,4) range"
DECIMAL_INVALID = "not a valid decimal"

_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_INT_LIMIT = 10**DECIMAL_INT_DIGITS
# Enough precision for 18 digits; rounding as money is usually rounded (ties away from zero).
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_UP)


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a batch of `table`: columns in order, nullable per column."""
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.kind], nullable=c.nullable) for c in table.columns]
    )


def normalize_decimal(value: object) -> str:
    """`value` (str, int or float; not bool) as text with exactly 4 decimals, e.g. "12.5000".

    Text is plain decimal notation with an optional exponent ("12.5", "-.5", "1e3");
    no spaces, underscores or non-ASCII digits. Extra decimals are rounded half away
    from zero; floats are taken by their shortest repr (0.1 → "0.1000"). Zero is
    always "0.0000". Raises ValueError(reason) for anything else or when the rounded
    value does not fit DECIMAL(18,4).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a decimal string or number, got {type(value).__name__}")
    if isinstance(value, int):
        if -_INT_LIMIT < value < _INT_LIMIT:
            return f"{int(value)}.0000"
        raise ValueError(DECIMAL_OUT_OF_RANGE)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be finite")
        text = repr(value)
    elif isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            raise ValueError(DECIMAL_INVALID)
        text = value
    else:
        raise ValueError(f"expected a decimal string or number, got {type(value).__name__}")
    try:
        number = Decimal(text)
        if number.is_zero():
            return "0.0000"
        # Checked before quantize so that a huge exponent never asks for huge precision.
        if number.adjusted() >= DECIMAL_INT_DIGITS:
            raise ValueError(DECIMAL_OUT_OF_RANGE)
        rounded = number.quantize(_QUANTUM, context=_CONTEXT)
    except DecimalException:
        raise ValueError(DECIMAL_INVALID) from None
    if rounded.is_zero():
        return "0.0000"
    if rounded.adjusted() >= DECIMAL_INT_DIGITS:
        raise ValueError(DECIMAL_OUT_OF_RANGE)
    return format(rounded, "f")
