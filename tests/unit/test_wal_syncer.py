import asyncio
import os
import threading

import pytest
import uvloop

from tracker.wal import Syncer, WalWriter
from tracker.wal.priority import HELPER_NICE_STEP, MAX_NICE


class SyncLog:
    """Wraps writer.sync to count fsyncs; call number n blocks while gates[n] is unset."""

    def __init__(self, writer: WalWriter, fail: bool = False) -> None:
        self.calls = 0
        self.gates: dict[int, threading.Event] = {}
        self.started = {n: threading.Event() for n in (1, 2)}
        self._real = writer.sync
        self._fail = fail
        writer.sync = self

    def __call__(self) -> None:
        self.calls += 1
        n = self.calls
        if n in self.started:
            self.started[n].set()
        if n in self.gates:
            self.gates[n].wait(10)
        if self._fail:
            raise OSError(5, "simulated EIO")
        self._real()


def make_writer(tmp_path, policy: str) -> WalWriter:
    w = WalWriter(tmp_path, 0, policy)
    w.open()
    return w


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_always_group_commit_serves_many_waiters_with_fewer_fsyncs(tmp_path, run):
    w = make_writer(tmp_path, "always")
    log = SyncLog(w)

    async def request(i: int, syncer: Syncer) -> int:
        w.append(1, 1, b"[%d]" % i)
        await syncer.durable()
        return i

    async def main() -> list[int]:
        syncer = Syncer(w, "always", 50)
        syncer.start(asyncio.get_running_loop())
        done = await asyncio.gather(*(request(i, syncer) for i in range(20)))
        more = await asyncio.gather(*(request(i, syncer) for i in range(20, 30)))
        await syncer.stop()
        return done + more

    assert run(main()) == list(range(30))
    assert 1 <= log.calls < 30
    assert not w.dirty
    w.close()


def test_always_waiter_arriving_during_an_fsync_waits_for_the_next(tmp_path):
    w = make_writer(tmp_path, "always")
    log = SyncLog(w)
    log.gates = {1: threading.Event(), 2: threading.Event()}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        syncer = Syncer(w, "always", 50)
        syncer.start(loop)
        w.append(1, 1, b"[1]")
        first = syncer.durable()
        await loop.run_in_executor(None, log.started[1].wait, 10)  # fsync 1 is running
        w.append(1, 1, b"[2]")
        second = syncer.durable()
        log.gates[1].set()
        await first
        await loop.run_in_executor(None, log.started[2].wait, 10)  # fsync 2 is running
        for _ in range(5):
            await asyncio.sleep(0)
        assert not second.done()  # fsync 1 started before it asked: not enough
        log.gates[2].set()
        await second
        assert log.calls == 2
        await syncer.stop()

    asyncio.run(main())
    assert not w.dirty
    w.close()


def test_always_fsync_error_reaches_the_waiters(tmp_path):
    w = make_writer(tmp_path, "always")
    SyncLog(w, fail=True)

    async def main() -> None:
        syncer = Syncer(w, "always", 50)
        syncer.start(asyncio.get_running_loop())
        w.append(1, 1, b"[1]")
        with pytest.raises(OSError):
            await syncer.durable()
        await syncer.stop()

    asyncio.run(main())


def test_stop_resolves_pending_waiters(tmp_path):
    w = make_writer(tmp_path, "always")
    log = SyncLog(w)

    async def main() -> None:
        syncer = Syncer(w, "always", 50)
        syncer.start(asyncio.get_running_loop())
        w.append(1, 1, b"[1]")
        fut = syncer.durable()
        await syncer.stop()
        assert fut.done() and fut.exception() is None
        w.append(1, 1, b"[2]")
        assert syncer.durable() is None  # stopped: synced inline

    asyncio.run(main())
    assert log.calls >= 2
    assert not w.dirty
    w.close()


def test_interval_fsyncs_in_the_background(tmp_path):
    w = make_writer(tmp_path, "interval")
    log = SyncLog(w)

    async def main() -> None:
        syncer = Syncer(w, "interval", 5)
        syncer.start(asyncio.get_running_loop())
        w.append(1, 1, b"[1]")
        assert syncer.durable() is None
        for _ in range(1000):  # liveness bound, not a timing assertion
            if log.calls:
                break
            await asyncio.sleep(0.01)
        assert log.calls >= 1
        assert not w.dirty
        w.append(1, 1, b"[2]")
        await syncer.stop()

    asyncio.run(main())
    assert not w.dirty  # the final fsync of stop()
    w.close()


def test_never_does_not_fsync(tmp_path):
    w = make_writer(tmp_path, "never")
    log = SyncLog(w)

    async def main() -> None:
        syncer = Syncer(w, "never", 50)
        syncer.start(asyncio.get_running_loop())
        w.append(1, 1, b"[1]")
        assert syncer.durable() is None
        await asyncio.sleep(0.01)
        await syncer.stop()

    asyncio.run(main())
    assert log.calls == 0
    assert w.dirty
    w.close()


def test_invalid_policy_is_refused(tmp_path):
    with pytest.raises(ValueError):
        Syncer(make_writer(tmp_path, "never"), "often", 50)


def test_always_covers_records_of_a_segment_rolled_before_the_fsync(tmp_path, monkeypatch):
    w = WalWriter(tmp_path, 0, "always", segment_bytes=1024)
    w.open()
    synced: list[int] = []
    real = os.fdatasync

    def record(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr("tracker.wal.writer.os.fdatasync", record)

    async def main() -> int:
        syncer = Syncer(w, "always", 50)
        syncer.start(asyncio.get_running_loop())
        w.append(1, 1, b"[0]")
        first = w._fd
        durable = syncer.durable()
        while w.current_segment == 1:  # the segment rolls before the group fsync runs
            w.append(1, 1, b"[1]")
        assert first not in synced
        await durable
        assert first in synced  # the waiter's record is durable
        await syncer.stop()
        return first

    asyncio.run(main())
    w.close()


def test_the_log_helper_threads_run_below_the_loops_priority(tmp_path):
    """The Syncer's and the chores' threads yield the worker's core to its loop
    (tracker/wal/priority.py); the loop's thread keeps its own priority."""
    w = make_writer(tmp_path, "interval")
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def main() -> int:
        syncer = Syncer(w, "interval", 5)
        syncer.start(asyncio.get_running_loop())
        nice = await asyncio.get_running_loop().run_in_executor(
            syncer._executor, lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        await syncer.stop()
        return nice

    helper = min(MAX_NICE, own + HELPER_NICE_STEP)
    assert asyncio.run(main()) == helper
    [chores] = [t for t in threading.enumerate() if t.name == f"wal-chores:{tmp_path}"]
    assert os.getpriority(os.PRIO_PROCESS, chores.native_id) == helper
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
    w.close()
