"""SinkThread: every call runs on one thread of its own, in order; results and errors come back."""

from __future__ import annotations

import threading

import pytest

from tracker.shipper.sinkthread import SinkThread


def test_calls_run_in_order_on_one_other_thread():
    io = SinkThread("sink-io-test")
    seen = []
    jobs = [io.submit(lambda i: seen.append((i, threading.get_ident())) or i * 2, i)
            for i in range(5)]
    assert [job.result() for job in jobs] == [0, 2, 4, 6, 8]
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    threads = {ident for _, ident in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads
    io.stop(5)


def test_an_error_is_raised_to_the_caller_and_the_thread_goes_on():
    io = SinkThread("sink-io-test")

    def fail():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        io.call(fail)
    assert io.call(lambda: "still here") == "still here"
    io.stop(5)


def test_wait_tells_whether_the_call_finished():
    io = SinkThread("sink-io-test")
    gate = threading.Event()
    job = io.submit(gate.wait)
    assert not job.wait(0.05)
    gate.set()
    assert job.wait(5)
    assert job.result() is True
    io.stop(5)
