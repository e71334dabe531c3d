import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import TrackerProcess
from tests.integration.stores import StoreUnderTest, clickhouse_store, duckdb_store
from tests.services import require_clickhouse


@pytest.fixture(params=["duckdb", "clickhouse"], ids=["duckdb", "clickhouse"])
def store(request: pytest.FixtureRequest) -> Iterator[StoreUnderTest]:
    """The test runs twice: with the default DuckDB store, then with ClickHouse as the
    only store (skipped without a server, failed under TRACKER_REQUIRE_SERVICES=1)."""
    if request.param == "duckdb":
        yield duckdb_store()
        return
    server = require_clickhouse()
    database = f"tracker_test_{uuid.uuid4().hex[:12]}"  # the sink creates it
    yield clickhouse_store(server, database)
    server.query(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def tracker_factory(request: pytest.FixtureRequest,
                    tmp_path: Path) -> Iterator[Callable[..., TrackerProcess]]:
    """Make TrackerProcess objects sharing nothing; every group is killed at the end."""
    if "store" in request.fixturenames:
        # Set the store up first so it is torn down last: its database is dropped only
        # after the processes that could write to it are gone.
        request.getfixturevalue("store")
    made: list[TrackerProcess] = []

    def make(data_dir: Path | None = None, **config: Any) -> TrackerProcess:
        proc = TrackerProcess(data_dir or tmp_path / f"data{len(made)}", **config)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        if proc.proc is not None and proc.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.proc.pid, signal.SIGKILL)
            proc.proc.wait()


@pytest.fixture
def tracker(tracker_factory: Callable[..., TrackerProcess]) -> TrackerProcess:
    return tracker_factory().start()
