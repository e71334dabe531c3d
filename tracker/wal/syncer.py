"""When the log is fsynced: group commit for "always", a timer for "interval".

fdatasync blocks, so it runs on one dedicated thread; the event loop only
schedules it and resolves the futures of the requests waiting on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor

from tracker.wal.priority import lower_this_threads_priority
from tracker.wal.writer import FSYNC_POLICIES, WalWriter

log = logging.getLogger(__name__)


class Syncer:
    def __init__(self, writer: WalWriter, policy: str, interval_ms: int) -> None:
        if policy not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, not {policy!r}")
        self._writer = writer
        self._policy = policy
        self._interval = interval_ms / 1000.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._timer: asyncio.Task[None] | None = None
        self._waiting: list[asyncio.Future[None]] = []  # for the next fsync
        self._inflight: asyncio.Future[None] | None = None
        self._kick_scheduled = False
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._policy == "never":
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-fsync",
                                            initializer=lower_this_threads_priority)
        if self._policy == "interval":
            self._timer = loop.create_task(self._run_interval())

    def durable(self) -> asyncio.Future[None] | None:
        """Call after appending. With "always", a future resolved once an fsync that
        started after this call completed (it carries the fsync's error, if any).
        Otherwise None: the append is already as durable as the policy promises.
        """
        if self._policy != "always":
            return None
        if self._stopped or self._loop is None:
            self._writer.sync()
            return None
        fut = self._loop.create_future()
        self._waiting.append(fut)
        if self._inflight is None and not self._kick_scheduled:
            # Deferred one loop turn so every request of this turn shares the fsync.
            self._kick_scheduled = True
            self._loop.call_soon(self._kick)
        return fut

    def _kick(self) -> None:
        self._kick_scheduled = False
        if self._stopped or self._inflight is not None or not self._waiting:
            return
        assert self._loop is not None
        waiters, self._waiting = self._waiting, []
        self._inflight = self._loop.run_in_executor(self._executor, self._writer.sync)
        self._inflight.add_done_callback(lambda done: self._synced(done, waiters))

    def _synced(self, done: asyncio.Future[None], waiters: list[asyncio.Future[None]]) -> None:
        self._inflight = None
        exc = None if done.cancelled() else done.exception()
        if exc is not None:
            log.error("wal fsync failed: %r", exc)
        for fut in waiters:
            if fut.done():  # the request gave up waiting
                continue
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)
        if self._waiting and not self._stopped:
            self._kick()

    async def _run_interval(self) -> None:
        assert self._loop is not None
        while True:
            await asyncio.sleep(self._interval)
            if not self._writer.dirty:
                continue
            try:
                await self._loop.run_in_executor(self._executor, self._writer.sync)
            except Exception:  # keep the timer alive; the next tick retries
                log.exception("wal interval fsync failed")

    async def stop(self) -> None:
        """Final fsync (unless "never"); every pending durable() future is resolved."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._inflight is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._inflight)
        error: BaseException | None = None
        if self._policy != "never" and self._loop is not None:
            try:
                await self._loop.run_in_executor(self._executor, self._writer.sync)
            except OSError as exc:
                log.error("wal final fsync failed: %r", exc)
                error = exc
        waiters, self._waiting = self._waiting, []
        for fut in waiters:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
