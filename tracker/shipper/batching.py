"""When to flush a table's buffered rows to a sink: the batching strategies (SPEC 5).

Every strategy flushes on shutdown; the runner forces that, the Batcher is not asked.

- immediate: whatever is buffered, on every pass of the runner (~every poll interval).
- time:      the oldest buffered row is `max_age_s` old.
- size:      `max_rows` rows are buffered.
- hybrid:    time or size, whichever comes first.
- memory:    the buffered rows take `max_bytes`; `max_age_s` is a safety net so a
             quiet table is not held back forever.
- adaptive:  a row target tuned after each flush so one flush takes about
             `target_flush_ms`, between ADAPTIVE_MIN_ROWS and ADAPTIVE_MAX_ROWS;
             `max_age_s` is the safety net here too.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.model.tables import TABLES

STRATEGIES = frozenset({"immediate", "time", "size", "hybrid", "memory", "adaptive"})

ADAPTIVE_MIN_ROWS = 100
ADAPTIVE_MAX_ROWS = 100_000
# How far one observation moves the adaptive target (0..1); damps noisy latencies.
_ADAPTIVE_GAIN = 0.5


@dataclass(frozen=True)
class BatchPolicy:
    strategy: str = "hybrid"
    max_rows: int = 1000
    max_age_s: float = 2.0
    max_bytes: int = 8 << 20
    target_flush_ms: float = 200.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown batching strategy {self.strategy!r}; one of {sorted(STRATEGIES)}"
            )
        if self.max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        if self.max_age_s < 0:
            raise ValueError("max_age_s must not be negative")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self.target_flush_ms <= 0:
            raise ValueError("target_flush_ms must be positive")


class Batcher:
    """The flush decision for one table of one sink."""

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._row_target = float(
            min(max(policy.max_rows, ADAPTIVE_MIN_ROWS), ADAPTIVE_MAX_ROWS)
        )

    @property
    def row_target(self) -> int:
        """Rows that trigger a flush for `size`, `hybrid` and `adaptive`."""
        if self.policy.strategy == "adaptive":
            return round(self._row_target)
        return self.policy.max_rows

    def full(self, num_rows: int, nbytes: int) -> bool:
        """The size trigger alone. The runner checks it after every record it buffers,
        so size-driven batches stay close to their target however much one read returns."""
        match self.policy.strategy:
            case "size" | "hybrid" | "adaptive":
                return num_rows >= self.row_target
            case "memory":
                return num_rows > 0 and nbytes >= self.policy.max_bytes
            case _:
                return False

    def should_flush(self, num_rows: int, nbytes: int, oldest_age_s: float) -> bool:
        """The whole decision, asked once per pass of the runner."""
        if num_rows <= 0:
            return False
        match self.policy.strategy:
            case "immediate":
                return True
            case "size":
                return self.full(num_rows, nbytes)
            case _:  # time, hybrid, memory, adaptive: age is the trigger or the safety net
                return oldest_age_s >= self.policy.max_age_s or self.full(num_rows, nbytes)

    def observe(self, rows: int, flush_seconds: float) -> None:
        """Feed one successful flush back; only `adaptive` uses it."""
        if self.policy.strategy != "adaptive" or rows <= 0 or flush_seconds <= 0:
            return
        # Assume cost proportional to rows: the size that would take the target time.
        ideal = rows * (self.policy.target_flush_ms / 1000.0) / flush_seconds
        target = self._row_target + _ADAPTIVE_GAIN * (ideal - self._row_target)
        self._row_target = min(max(target, ADAPTIVE_MIN_ROWS), ADAPTIVE_MAX_ROWS)


def default_policies(max_rows: int = 1000, max_age_s: float = 2.0) -> dict[str, BatchPolicy]:
    """SPEC 5 defaults by table name: payments immediate, everything else hybrid."""
    hybrid = BatchPolicy("hybrid", max_rows=max_rows, max_age_s=max_age_s)
    policies = {t.name: hybrid for t in TABLES}
    policies["payments"] = BatchPolicy("immediate", max_rows=max_rows, max_age_s=max_age_s)
    return policies
