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

    def batch_rows(self) -> int | None:
        """The most rows one batch holds: the row target where it is the size
        trigger (`size`, `hybrid`, `adaptive`); None for the other strategies."""
        if self.policy.strategy in ("size", "hybrid", "adaptive"):
            return self.row_target
        return None

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


# The default size trigger where a store's own default is not SPEC 5's 1000 rows.
# DuckDB: one row group (its ROW_GROUP_SIZE). An append of a whole row group is
# compressed straight into the database file, where smaller ones go through
# DuckDB's WAL and are compressed again by the next checkpoint; and each insert
# has a fixed cost (~3-5 ms: planning, dedup probe, commit). Measured on the
# shipper (loadtest/drain.py, docs/ARCHITECTURE.md "Delivery throughput"):
# 1000-row batches deliver ~57k events/s at ~15 us of CPU an event, whole row
# groups ~250k events/s at ~4 us. (A size-triggered batch holds exactly
# max_rows rows, so these inserts are whole row groups: see runner._take.)
# ClickHouse: each INSERT makes a part that the server sorts and later merges;
# 1000-row inserts under load make parts faster than it merges them ("too many
# parts"); 100k-row inserts measured ~260-350k events/s (loadtest/clickhouse_drain.py).
STORE_BATCH_ROWS = {"duckdb": 122_880, "clickhouse": 100_000}
SPEC_BATCH_ROWS = 1000


def default_policies(
    max_rows: int | None = None, max_age_s: float = 2.0, store: str = ""
) -> dict[str, BatchPolicy]:
    """Default policies by table name: payments and short-link changes immediate, the rest hybrid
    (SPEC 5) with `max_rows` rows, by default the store's STORE_BATCH_ROWS or 1000."""
    if max_rows is None:
        max_rows = STORE_BATCH_ROWS.get(store, SPEC_BATCH_ROWS)
    hybrid = BatchPolicy("hybrid", max_rows=max_rows, max_age_s=max_age_s)
    policies = {t.name: hybrid for t in TABLES}
    immediate = BatchPolicy("immediate", max_rows=max_rows, max_age_s=max_age_s)
    policies["payments"] = immediate
    policies["redirect_history"] = immediate  # rare admin changes, wanted at once
    return policies
