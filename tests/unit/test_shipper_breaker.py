import random

import pytest

from tracker.shipper.breaker import Breaker


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(open_after=3, seed=1):
    clock = FakeClock()
    return clock, Breaker(base_s=0.2, max_s=30.0, open_after=open_after, clock=clock,
                          rng=random.Random(seed))


def test_closed_allows_everything():
    _, b = make()
    assert b.state == "ok"
    assert b.allow()
    assert b.wait_s() == 0.0


def test_failures_back_off_then_open_then_probe_closes():
    clock, b = make(open_after=3)
    delay = b.record_failure()
    assert b.state == "retrying"
    assert 0.1 <= delay <= 0.2
    assert not b.allow()
    clock.now += delay
    assert b.allow()
    d2 = b.record_failure()
    assert b.state == "retrying"
    assert 0.2 <= d2 <= 0.4
    clock.now += d2
    d3 = b.record_failure()
    assert b.state == "open"
    assert 0.4 <= d3 <= 0.8
    assert not b.allow()
    assert b.wait_s() == pytest.approx(d3)
    clock.now += d3
    assert b.allow()  # the half-open probe
    b.record_success()
    assert b.state == "ok"
    assert b.failures == 0
    assert b.allow()


def test_failed_probe_reopens_with_longer_backoff():
    clock, b = make(open_after=1)
    d1 = b.record_failure()
    assert b.state == "open"
    clock.now += d1
    assert b.allow()
    d2 = b.record_failure()
    assert b.state == "open"
    assert d2 >= 0.2  # min of the second backoff (0.4 * 0.5)
    assert not b.allow()


def test_backoff_is_capped():
    _, b = make(open_after=2)
    delays = [b.record_failure() for _ in range(200)]
    assert max(delays) <= 30.0
    assert delays[-1] >= 15.0


def test_jitter_differs_between_breakers():
    _, a = make(seed=1)
    _, b = make(seed=2)
    assert [a.record_failure() for _ in range(5)] != [b.record_failure() for _ in range(5)]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Breaker(base_s=0)
    with pytest.raises(ValueError):
        Breaker(open_after=0)
