"""Per-process counters and the request latency histogram."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

# Seconds; the last bucket (+Inf) is implicit.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                   0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LatencyHistogram:
    """Cumulative-on-export histogram with fixed buckets (Prometheus style)."""

    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def merge(self, counts: list[int], seconds: float) -> None:
        """Add observations counted elsewhere: per bucket, and their sum."""
        for i, count in enumerate(counts):
            self.counts[i] += count
        self.count += sum(counts)
        self.sum += seconds

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": list(LATENCY_BUCKETS), "counts": list(self.counts),
                "count": self.count, "sum": self.sum}


class RouteCounters:
    """Requests per route and status class, and their handling latency."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.latency = LatencyHistogram()
        # Called before an export: code that counts on its own adds its counts.
        self._flushers: list[Callable[[], None]] = []

    def add_flusher(self, flush: Callable[[], None]) -> None:
        self._flushers.append(flush)

    def add(self, route: str, status: int, count: int) -> None:
        """Requests counted elsewhere (their latency goes to `latency.merge`)."""
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + count

    def record(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        latency = self.latency  # LatencyHistogram.observe, inline: once per request
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.count += 1
        latency.sum += seconds

    def to_dict(self) -> dict[str, Any]:
        for flush in self._flushers:
            flush()
        return {
            "requests": [{"route": r, "status": s, "count": n}
                         for (r, s), n in sorted(self.requests.items())],
            "latency": self.latency.to_dict(),
        }
