"""DailyRateLimiter: RateLimitPerDay per client IP per UTC day, on both counter implementations."""

from __future__ import annotations

import importlib

import pytest

from tracker._fast import shmcounter_py
from tracker.ratelimit import (
    DailyRateLimiter,
    ip_key_hasher,
    seconds_until_next_utc_day,
    utc_day,
)

DAY = 20_000
NOON = DAY * 86400 + 12 * 3600  # 2024-10-04T12:00:00Z


@pytest.fixture(params=["compiled", "twin"])
def counter_type(request):
    if request.param == "twin":
        return shmcounter_py.SharedCounter
    try:
        return importlib.import_module("tracker._fast.shmcounter").SharedCounter
    except ImportError:
        pytest.skip("tracker._fast.shmcounter is not built")


@pytest.fixture
def make(tmp_path, counter_type):
    made = []

    def make(limit: int, capacity: int = 1024, **kw) -> DailyRateLimiter:
        kw.setdefault("hasher", ip_key_hasher(b"secret"))
        limiter = DailyRateLimiter(tmp_path / "run" / "ratelimit.shm", limit, capacity=capacity,
                                   counter_type=counter_type, **kw)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


def test_exactly_the_limit_is_allowed_then_retry_after_midnight(make):
    limiter = make(3)
    assert [limiter.check("203.0.113.9", NOON + i) for i in range(3)] == [(True, 0)] * 3
    assert limiter.check("203.0.113.9", NOON + 3.5) == (False, 12 * 3600 - 3)
    assert limiter.check("203.0.113.9", NOON + 4) == (False, 12 * 3600 - 4)
    assert limiter.denied == 2
    assert limiter.check("2001:db8::1", NOON) == (True, 0)  # other IPs have their own count


def test_the_next_utc_day_starts_again(make):
    limiter = make(1)
    assert limiter.check("198.51.100.7", NOON)[0]
    assert not limiter.check("198.51.100.7", (DAY + 1) * 86400 - 0.001)[0]
    assert limiter.check("198.51.100.7", (DAY + 1) * 86400) == (True, 0)
    assert limiter.check("198.51.100.7", (DAY + 1) * 86400 + 1) == (False, 86399)


def test_limiters_on_one_file_share_the_counts(make):
    # Two workers in one test process: each has its own mapping of the same file.
    first, second = make(4), make(4)
    answers = [(first if i % 2 else second).check("192.0.2.1", NOON)[0] for i in range(6)]
    assert answers == [True] * 4 + [False] * 2


def test_a_full_table_lets_requests_through_and_counts_them(make):
    limiter = make(1, capacity=2)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        limiter.check(ip, NOON)
    crowded = [ip for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4")
               if limiter.check(ip, NOON)[0]]
    assert len(crowded) == 2  # the two that found no slot are never limited...
    assert limiter.table_full == 4  # ...and every such request is counted


def test_the_file_holds_no_ip(make, tmp_path):
    limiter = make(5)
    ip = "203.0.113.77"
    limiter.check(ip, NOON)
    data = (tmp_path / "run" / "ratelimit.shm").read_bytes()
    assert ip.encode() not in data
    assert bytes([203, 0, 113, 77]) not in data
    assert any(data[64:])  # but something was counted


def test_ip_keys_are_cached_in_a_bounded_dict(make):
    calls = []

    def hasher(ip: str) -> int:
        calls.append(ip)
        return hash(ip) & (2**64 - 1)

    limiter = make(100, hasher=hasher, cache_size=2)
    for ip in ["a", "a", "b", "a", "c", "a", "b"]:
        limiter.check(ip, NOON)
    # "c" evicts the oldest entry ("a"), then "a" evicts "b": each is hashed again.
    assert calls == ["a", "b", "c", "a", "b"]


def test_a_limit_out_of_range_is_refused(make):
    for limit in (0, -1, 2**32):
        with pytest.raises(ValueError, match="daily limit"):
            make(limit)


def test_day_arithmetic():
    assert utc_day(NOON) == DAY
    assert utc_day(DAY * 86400) == DAY
    assert utc_day(DAY * 86400 - 0.5) == DAY - 1
    assert seconds_until_next_utc_day(DAY * 86400) == 86400
    assert seconds_until_next_utc_day((DAY + 1) * 86400 - 0.2) == 1
    assert seconds_until_next_utc_day((DAY + 1) * 86400 - 1e-6) == 1
    assert seconds_until_next_utc_day(NOON, DAY + 1) == 86400 + 12 * 3600


def test_ip_keys_are_keyed_and_64_bit():
    one, other = ip_key_hasher(b"one"), ip_key_hasher(b"other")
    assert one("192.0.2.1") == one("192.0.2.1")
    assert one("192.0.2.1") != one("192.0.2.2")
    assert one("192.0.2.1") != other("192.0.2.1")
    assert all(0 <= one(f"10.0.0.{n}") < 2**64 for n in range(50))
    assert len({one(f"10.0.0.{n}") >> 16 for n in range(256)}) == 256  # distinct key48s
    with pytest.raises(ValueError):
        ip_key_hasher(b"")
