"""Store values back into row-dict form (tracker/model/tables.py Kind), for reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from tracker.model.tables import Kind, Table

EPOCH = dt.datetime(1970, 1, 1)


def to_row_value(kind: Kind, value: Any) -> Any:
    """One value as a row dict carries it; None stays None."""
    if value is None:
        return None
    if kind is Kind.UUID:
        return str(value) if isinstance(value, uuid.UUID) else str(value).lower()
    if kind is Kind.TIMESTAMP_MS:
        if isinstance(value, dt.datetime):
            naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
            return (naive - EPOCH) // dt.timedelta(milliseconds=1)
        return int(value)  # stores keeping plain integer milliseconds
    if kind is Kind.JSON:
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    if kind is Kind.DECIMAL:
        return f"{Decimal(value):.4f}"
    if kind is Kind.BOOL:
        return bool(value)
    return value


def row_dict(table: Table, names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A stored row as a row dict: NULLs left out, columns the model does not know skipped."""
    kinds = {c.name: c.kind for c in table.columns}
    return {name: to_row_value(kinds[name], value)
            for name, value in zip(names, values, strict=True)
            if name in kinds and value is not None}
