"""tracker._fast: compiled modules against their pure-Python twins.

Run: .venv/bin/pytest bench/test_bench_fast.py --benchmark-only
(build first: .venv/bin/python setup.py build_ext --inplace). Each group shows
the compiled module and the twin side by side.
"""

from __future__ import annotations

import importlib

import pytest
from event_rows import events_rows

from tracker._fast import columns_py, ids_py, pathpairs_py
from tracker.model.tables import EVENTS

PREFIX = "/tr/v1/tr/"
PATH = PREFIX + (
    "ename/page_view/etyp/view/url/https%3A%2F%2Fshop.example.com%2Fproducts%2Fred-shoes%3Fsize%3D42"
    "/oid/shop/tz/Europe%2FBerlin/lang/de-DE/vp_w/1440/vid/0190a6f2-7c3b-7d4e-8f00-123456789abc"
)
QUERY = (
    "utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale+2024"
    "&ref=https%3A%2F%2Fwww.google.com%2F&vp_h=900&plan=pro"
)
TWINS = {"pathpairs": pathpairs_py, "ids": ids_py, "columns": columns_py}


def implementation(name: str, which: str):
    if which == "twin":
        return TWINS[name]
    try:
        return importlib.import_module(f"tracker._fast.{name}")
    except ImportError:
        pytest.skip(f"tracker._fast.{name} is not built")


both = pytest.mark.parametrize("which", ["compiled", "twin"])


@pytest.mark.benchmark(group="decode_path_pairs (8 pairs)")
@both
def test_bench_decode_path_pairs(benchmark, which):
    module = implementation("pathpairs", which)
    pairs = benchmark(module.decode_path_pairs, PATH, len(PREFIX))
    assert len(pairs) == 8
    assert pairs["url"] == "https://shop.example.com/products/red-shoes?size=42"


@pytest.mark.benchmark(group="decode_query (6 pairs)")
@both
def test_bench_decode_query(benchmark, which):
    module = implementation("pathpairs", which)
    pairs = benchmark(module.decode_query, QUERY)
    assert pairs["utm_campaign"] == "spring sale 2024"


@pytest.mark.benchmark(group="uuid7")
@both
def test_bench_uuid7(benchmark, which):
    module = implementation("ids", which)
    assert len(benchmark(module.uuid7)) == 36


@pytest.mark.benchmark(group="TableBuffer 10k events: extend + take + to_arrow")
@both
def test_bench_table_buffer(benchmark, which):
    module = implementation("columns", which)
    rows = events_rows(10_000)

    def run():
        buffer = module.TableBuffer(EVENTS)
        rejected = buffer.extend(rows)
        return rejected, buffer.take().to_arrow()

    rejected, table = benchmark(run)
    assert rejected == []
    assert table.num_rows == 10_000
