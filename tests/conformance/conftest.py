"""Fixtures of the sink conformance suite: every test here runs once per store
of tests/conformance/stores.py, with batches made as the shipper makes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance.batches import column_batch
from tests.conformance.harness import SinkFactory
from tests.conformance.stores import SINK_FACTORIES
from tracker.model.tables import Table
from tracker.sinks.base import Batch


@pytest.fixture(params=[pytest.param(f, marks=f.marks, id=f.name) for f in SINK_FACTORIES])
def sink_factory(request: pytest.FixtureRequest) -> SinkFactory:
    return request.param


@pytest.fixture
def make_batch() -> Callable[[Table, list[dict[str, Any]]], Batch]:
    """Batches as the shipper makes them (tracker._fast.TableBuffer)."""
    return column_batch
