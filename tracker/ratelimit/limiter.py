"""RateLimitPerDay: at most `limit` requests per client IP per UTC day, across all workers."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from tracker._fast import SharedCounter
from tracker._fast.shmcounter_py import MAX_LIMIT
from tracker.ratelimit.shmfile import DEFAULT_CAPACITY, open_counter_file

DAY_SECONDS = 86400


def utc_day(now: float) -> int:
    """Days since 1970-01-01 UTC of a Unix time."""
    return int(now // DAY_SECONDS)


def seconds_until_next_utc_day(now: float, day: int | None = None) -> int:
    """Whole seconds from now to the midnight (UTC) ending `day` (default: now's day); >= 1."""
    if day is None:
        day = utc_day(now)
    return max(1, math.ceil((day + 1) * DAY_SECONDS - now))


class DailyRateLimiter:
    """Counts each request of a client IP in the shared table and says whether it may proceed.

    The IP is reduced to a keyed 64-bit hash (`hasher`, e.g. ip_key_hasher),
    cached per IP in a bounded dict. When the table has no room for a new IP
    the request is allowed (fail open) and counted in `table_full`.
    """

    def __init__(
        self,
        path: Path,
        limit: int,
        hasher: Callable[[str], int],
        capacity: int = DEFAULT_CAPACITY,
        *,
        cache_size: int = 65536,
        counter_type: type = SharedCounter,
    ) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"the daily limit must be between 1 and {MAX_LIMIT}, not {limit}")
        self.limit = limit
        self.denied = 0  # requests this process answered "over the limit"
        self._hasher = hasher
        self._keys: dict[str, int] = {}
        self._cache_size = max(1, cache_size)
        self._counter = open_counter_file(path, capacity, counter_type)

    def check(self, ip: str, now: float) -> tuple[bool, int]:
        """Counts one request: (True, 0) when allowed, else (False, Retry-After seconds)."""
        key = self._keys.get(ip)
        if key is None:
            key = self._hasher(ip)
            if len(self._keys) >= self._cache_size:
                del self._keys[next(iter(self._keys))]  # forget the oldest
            self._keys[ip] = key
        day = utc_day(now)
        allowed, _ = self._counter.hit(key, day, self.limit)
        if allowed:
            return True, 0
        self.denied += 1
        # The table may already count a newer day than this clock (another worker crossed
        # midnight first): the wait is until the end of that day.
        return False, seconds_until_next_utc_day(now, max(day, self._counter.day))

    @property
    def table_full(self) -> int:
        """Requests allowed uncounted because the table was full (all workers: it is shared)."""
        return self._counter.full_count

    def close(self) -> None:
        self._counter.close()
