"""RateLimitPerDay: SharedCounter.hit compiled (atomic CAS) against the twin (flock).

Run: .venv/bin/pytest bench/test_bench_ratelimit.py --benchmark-only
(build first: .venv/bin/python setup.py build_ext --inplace).
"""

from __future__ import annotations

import importlib
import itertools
import random

import pytest

from tracker._fast import shmcounter_py
from tracker.ratelimit import DailyRateLimiter, ip_key_hasher, open_counter_file

DAY = 20_000
NOON = DAY * 86400 + 43200
LIMIT = 0xFFFF_FFFE  # never reached: every hit is a real increment


def counter_type(which: str):
    if which == "twin":
        return shmcounter_py.SharedCounter
    try:
        return importlib.import_module("tracker._fast.shmcounter").SharedCounter
    except ImportError:
        pytest.skip("tracker._fast.shmcounter is not built")


both = pytest.mark.parametrize("which", ["compiled", "twin"])


@pytest.mark.benchmark(group="ratelimit hit: one IP")
@both
def test_bench_hit_one_key(benchmark, which, tmp_path):
    with open_counter_file(tmp_path / "r.shm", 1 << 20, counter_type(which)) as table:
        allowed, count = benchmark(table.hit, 0x1234_5678_9ABC_DEF0, DAY, LIMIT)
        assert allowed
        assert count >= 1


@pytest.mark.benchmark(group="ratelimit hit: 100k IPs in a 1M-slot table")
@both
def test_bench_hit_many_keys(benchmark, which, tmp_path):
    every = [random.Random(n).getrandbits(64) for n in range(100_000)]
    keys = itertools.cycle(every)
    with open_counter_file(tmp_path / "r.shm", 1 << 20, counter_type(which)) as table:
        for key in every:  # steady state: slots claimed, pages mapped
            table.hit(key, DAY, LIMIT)
        allowed, _ = benchmark(lambda: table.hit(next(keys), DAY, LIMIT))
        assert allowed
        assert table.full_count == 0


@pytest.mark.benchmark(group="ratelimit DailyRateLimiter.check (cached IP key)")
@both
def test_bench_limiter_check(benchmark, which, tmp_path):
    limiter = DailyRateLimiter(tmp_path / "r.shm", LIMIT, ip_key_hasher(b"secret"),
                               counter_type=counter_type(which))
    assert benchmark(limiter.check, "203.0.113.9", NOON) == (True, 0)
    limiter.close()
