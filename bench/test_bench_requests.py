"""One single-event request through the application, from the parsed request to
its answer and its row in the turn's log record: the compiled path
(`_fast/oneevent`) against the general one (`handle_general`).

Run: .venv/bin/pytest bench/test_bench_requests.py --benchmark-only
(the mean is the cost of one request without the HTTP layer; the log is
written when the turn's record passes 1 MB, as under load).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracker._fast import OneEventPath
from tracker.events import BuilderConfig, ClientIpResolver, EventBuilder
from tracker.http import Request
from tracker.metrics.registry import RouteCounters
from tracker.routes.app import TrackerApp
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor
from tracker.routes.ops import OpsRoutes
from tracker.routes.tracking import TrackingRoutes
from tracker.wal import Syncer, WalWriter

HEADERS = {"host": "t.example.com", "accept-language": "de-DE,de;q=0.9",
           "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"}
GET = ("/tr/v1/tr/ename/page_view/etyp/view/url/https%3A%2F%2Fshop.example%2Fp%2F42/oid/site-1",
       "utm_source=news&utm_medium=email")
POST = orjson.dumps({"ename": "add_to_cart", "etyp": "click", "oid": "site-1",
                     "url": "https://shop.example/p/42?utm_source=news", "vp_w": 1280,
                     "vp_h": 720, "params": {"sku": "A-42", "qty": 2}})

pytestmark = pytest.mark.skipif(OneEventPath is None, reason="the compiled modules are not built")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TrackerApp]:
    writer = WalWriter(tmp_path, worker=0, fsync="never")
    writer.open()
    ingestor = Ingestor(writer, Syncer(writer, "never", 200))
    cors = CorsPolicy(("*",))
    tracking = TrackingRoutes(EventBuilder(BuilderConfig.from_secret(bytes(range(32)))),
                              ClientIpResolver([]), ingestor, cors, 1 << 16)
    yield TrackerApp(tracking, OpsRoutes(tmp_path, 1 << 30, 1, dict), cors, RouteCounters())
    writer.close()


def in_loop(benchmark: Any, handle: Callable[[Request], Any], request: Request) -> Any:
    """Benchmark `handle(request)` inside a running event loop (the log's group
    append schedules its commit on it)."""
    async def measure() -> Any:
        return benchmark(handle, request)
    return asyncio.run(measure())


@pytest.mark.parametrize("which", ["compiled", "general"])
def test_bench_get_event(benchmark: Any, app: TrackerApp, which: str) -> None:
    request = Request("GET", GET[0], GET[1], HEADERS, b"", "203.0.113.7", False, True)
    handle = app.handle if which == "compiled" else app.handle_general
    answer = in_loop(benchmark, handle, request)
    assert (type(answer) is bytes) == (which == "compiled")


@pytest.mark.parametrize("which", ["compiled", "general"])
def test_bench_post_event(benchmark: Any, app: TrackerApp, which: str) -> None:
    headers = {**HEADERS, "content-type": "application/json"}
    request = Request("POST", "/tr/v1/tr/", "", headers, POST, "203.0.113.7", False, True)
    handle = app.handle if which == "compiled" else app.handle_general
    answer = in_loop(benchmark, handle, request)
    assert (type(answer) is bytes) == (which == "compiled")
