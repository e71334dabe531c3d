"""The contract of the sink conformance suite: how a store is made and read back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest

from tracker.model.tables import Kind, Table
from tracker.sinks.base import Sink


class SinkProbe(Protocol):
    """Reads a store back, outside the sink under test."""

    def count(self, table: str) -> int:
        """Rows stored in `table`, as queries see them (duplicates collapsed where the
        store collapses them at read time, e.g. ClickHouse FINAL)."""

    def fetch(self, table: str, key: str) -> list[dict[str, Any]]:
        """Every stored row whose row id is `key`, each as a dict of all columns with
        values normalized by kind (see `normalize`)."""


def normalize(kind: Kind, value: Any) -> Any:
    """One comparable form per kind: uuid str, ts int ms, json parsed, decimal Decimal."""
    if value is None:
        return None
    if kind is Kind.UUID:
        return str(uuid.UUID(str(value)))
    if kind is Kind.TIMESTAMP_MS:
        if isinstance(value, datetime):
            return (value - datetime(1970, 1, 1)) // timedelta(milliseconds=1)
        return int(value)
    if kind is Kind.JSON:
        return orjson.loads(value) if isinstance(value, str | bytes) else value
    if kind is Kind.DECIMAL:
        return Decimal(str(value))
    return value


def normalize_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: normalize(c.kind, row.get(c.name)) for c in table.columns}


@dataclass(frozen=True)
class SinkFactory:
    """How the suite makes one store's sinks and probes under a test's directory."""

    name: str
    new_sink: Callable[[Path], Sink]
    new_probe: Callable[[Path], SinkProbe]
    # (table, column overrides on a valid row) the store must refuse with PermanentError.
    rejected: tuple[tuple[str, dict[str, Any]], ...] = field(default=())
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())
