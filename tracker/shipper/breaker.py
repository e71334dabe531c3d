"""Retry with exponential backoff and jitter, behind a circuit breaker.

States, as published:
- "ok":       closed; writes go through.
- "retrying": 1..open_after-1 consecutive failures; the next attempt waits a backoff.
- "open":     open_after or more consecutive failures. Nothing is attempted until
              the backoff has passed; then one attempt is let through as the
              half-open probe: success closes the breaker, failure reopens it with
              a longer backoff.

The backoff after the n-th consecutive failure is min(max_s, base_s * 2**(n-1)),
scaled by a random factor in [0.5, 1] so that sinks failing together do not
retry in lockstep. One Breaker is used by one thread.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

OK = "ok"
RETRYING = "retrying"
OPEN = "open"


class Breaker:
    def __init__(
        self,
        *,
        base_s: float = 0.2,
        max_s: float = 30.0,
        open_after: int = 5,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if base_s <= 0 or max_s < base_s:
            raise ValueError("need 0 < base_s <= max_s")
        if open_after < 1:
            raise ValueError("open_after must be at least 1")
        self.base_s = base_s
        self.max_s = max_s
        self.open_after = open_after
        self._clock = clock
        self._rng = rng or random.Random()
        self._failures = 0
        self._next_attempt = 0.0

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    @property
    def state(self) -> str:
        if self._failures == 0:
            return OK
        return OPEN if self._failures >= self.open_after else RETRYING

    def allow(self) -> bool:
        """May an attempt be made now? (In "open" state a True is the half-open probe.)"""
        return self._failures == 0 or self._clock() >= self._next_attempt

    def wait_s(self) -> float:
        """Seconds until `allow()` becomes true (0 if it is)."""
        if self._failures == 0:
            return 0.0
        return max(0.0, self._next_attempt - self._clock())

    def record_success(self) -> None:
        self._failures = 0
        self._next_attempt = 0.0

    def record_failure(self) -> float:
        """Count a failed attempt; returns the backoff before the next one."""
        self._failures += 1
        # Cap the exponent: 2**n overflows a float long before it matters.
        exp = min(self._failures - 1, 60)
        delay = min(self.max_s, self.base_s * (2.0**exp))
        delay *= 0.5 + 0.5 * self._rng.random()
        self._next_attempt = self._clock() + delay
        return delay
