"""tracker._fast.native: a 10k-row events batch as one ClickHouse Native block.

Run: .venv/bin/pytest bench/test_bench_fast_native.py --benchmark-only
(build first: .venv/bin/python setup.py build_ext --inplace). The compiled
encoder and its twin encode the same compiled batch; rows/s and MB/s (of the
block written) are in each result's extra_info and printed with -s.
"""

from __future__ import annotations

import importlib

import pytest
from event_rows import events_rows

from tracker._fast import native_py
from tracker.model.tables import EVENTS, Column, Kind

ROWS = 10_000
LOW_CARDINALITY = {"oid", "ename", "etyp", "host", "source", "medium", "campaign", "tz",
                   "lang", "device", "os", "browser", "country", "city", "currency"}  # fmt: skip
TYPES = {
    Kind.UUID: "UUID",
    Kind.STR: "String",
    Kind.JSON: "String",
    Kind.INT: "Int64",
    Kind.FLOAT: "Float64",
    Kind.BOOL: "UInt8",
    Kind.TIMESTAMP_MS: "DateTime64(3)",
}


def _type(column: Column) -> str:
    """The type a modern ClickHouse server would report for this events column."""
    if column.name in LOW_CARDINALITY:
        return "LowCardinality(Nullable(String))"
    base = TYPES[column.kind]
    return f"Nullable({base})" if column.nullable else base


COLUMNS = [(c.name, _type(c)) for c in EVENTS.columns]


def _columns_module():
    try:
        return importlib.import_module("tracker._fast.columns")
    except ImportError:
        pytest.skip("tracker._fast.columns is not built")


@pytest.mark.benchmark(group=f"encode_block: {ROWS // 1000}k events rows")
@pytest.mark.parametrize("which", ["compiled", "twin"])
def test_bench_encode_block(benchmark, which):
    columns_module = _columns_module()
    if which == "compiled":
        try:
            encode = importlib.import_module("tracker._fast.native").encode_block
        except ImportError:
            pytest.skip("tracker._fast.native is not built")
    else:
        encode = native_py.encode_block
    buffer = columns_module.TableBuffer(EVENTS)
    assert buffer.extend(events_rows(ROWS)) == []
    batch = buffer.take()

    block = benchmark(encode, batch, COLUMNS)

    assert block.startswith(bytes([len(COLUMNS)]) + b"\x90\x4e")  # columns, rows (varint)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info["rows_per_s"] = round(ROWS / seconds)
    benchmark.extra_info["mb_per_s"] = round(len(block) / seconds / 1e6, 1)
    print(f"\n{which}: {ROWS / seconds:,.0f} rows/s, {len(block) / seconds / 1e6:,.1f} MB/s")
