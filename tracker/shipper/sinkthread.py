"""The one thread that drives a sink: every call on the sink runs there, one at a time.

The runner hands it a batch to write and goes on reading and scanning the log
meanwhile. Stores release the GIL while they work (DuckDB while it inserts and
compresses, a network store while it waits), so the next batch is prepared on
another core, or during the store's I/O waits, while this one is written.
The thread is a daemon, like the runner's: a store that never answers cannot
keep the process from exiting.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class Job:
    """One call on the sink thread; `wait`, then `result`."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._fn = fn
        self._args = args
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to the thread that waits for the job
            self._error = exc
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True when the call has finished (within `timeout` seconds; None: however long)."""
        return self._done.wait(timeout)

    def result(self) -> Any:
        """The call's return value, or its exception raised again; waits for it."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class SinkThread:
    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Job:
        """Queue `fn(*args)` behind the calls already queued."""
        job = Job(fn, args)
        self._jobs.put(job)
        return job

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` on the sink thread and wait for its result."""
        return self.submit(fn, *args).result()

    def stop(self, timeout: float | None = None) -> None:
        """End the thread once the queued calls are done."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job.run()
