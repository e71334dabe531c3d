import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import TrackerProcess


@pytest.fixture
def tracker_factory(tmp_path: Path) -> Iterator[Callable[..., TrackerProcess]]:
    """Make TrackerProcess objects sharing nothing; every group is killed at the end."""
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
