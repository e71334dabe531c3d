"""Counters of one sink runner, written by its thread and read by the state publisher."""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any

_LATENCY_WINDOW = 1024  # flushes kept for the percentiles
_MAX_ERROR_CHARS = 200
_URL_CREDENTIALS = re.compile(r"://[^/@\s]*@")
_SECRET_PARAM = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|access_token|key)=[^\s&;,]+")


def short_error(exc: BaseException) -> str:
    """One line, bounded, with credentials in URLs and key=value secrets masked."""
    text = f"{type(exc).__name__}: {exc}"
    text = _URL_CREDENTIALS.sub("://***@", text)
    text = _SECRET_PARAM.sub(r"\1=***", text)
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


class RunnerStats:
    def __init__(self, tables: list[str]) -> None:
        self._lock = threading.Lock()
        self._delivered = dict.fromkeys(tables, 0)
        self._batches = dict.fromkeys(tables, 0)
        self._failures = dict.fromkeys(tables, 0)
        self._flushes = _Latency()  # every table's
        self._by_table = {table: _Latency() for table in tables}
        self._queued_rows = 0
        self._queued_bytes = 0
        self._last_error = ""

    def delivered(self, table: str, rows: int, seconds: float) -> None:
        with self._lock:
            self._delivered[table] = self._delivered.get(table, 0) + rows
            self._batches[table] = self._batches.get(table, 0) + 1
            self._flushes.add(seconds)
            self._by_table.setdefault(table, _Latency()).add(seconds)

    def failed(self, table: str, error: str) -> None:
        with self._lock:
            self._failures[table] = self._failures.get(table, 0) + 1
            self._last_error = error

    def error(self, error: str) -> None:
        with self._lock:
            self._last_error = error

    def queued(self, rows: int, nbytes: int) -> None:
        with self._lock:
            self._queued_rows = rows
            self._queued_bytes = nbytes

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "last_error": self._last_error,
                "delivered": dict(self._delivered),
                "batches": dict(self._batches),
                "failures": dict(self._failures),
                "flush_latency_ms": self._flushes.summary(),
                "flush_latency_ms_by_table": {
                    table: latency.summary() for table, latency in self._by_table.items()
                },
                "queued_rows": self._queued_rows,
                "queued_bytes": self._queued_bytes,
            }


class _Latency:
    """Flush latencies (of one table, or of all): totals, the maximum, and the
    recent ones for percentiles."""

    __slots__ = ("count", "max", "recent", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.max = 0.0
        self.recent: deque[float] = deque(maxlen=_LATENCY_WINDOW)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        self.max = max(self.max, seconds)
        self.recent.append(seconds)

    def summary(self) -> dict[str, float]:
        recent = sorted(self.recent)
        return {"count": self.count, "sum": _ms(self.seconds),
                "avg": _ms(self.seconds / self.count) if self.count else 0.0,
                "p50": _ms(_percentile(recent, 0.50)), "p99": _ms(_percentile(recent, 0.99)),
                "max": _ms(self.max)}


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
