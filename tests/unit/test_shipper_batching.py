import pytest

from tracker.shipper.batching import (
    ADAPTIVE_MAX_ROWS,
    ADAPTIVE_MIN_ROWS,
    STORE_BATCH_ROWS,
    Batcher,
    BatchPolicy,
    default_policies,
)


def test_unknown_strategy_and_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="strategy"):
        BatchPolicy("sometimes")
    with pytest.raises(ValueError):
        BatchPolicy("size", max_rows=0)
    with pytest.raises(ValueError):
        BatchPolicy("time", max_age_s=-1)


@pytest.mark.parametrize("strategy", ["immediate", "time", "size", "hybrid", "memory", "adaptive"])
def test_nothing_buffered_never_flushes(strategy):
    b = Batcher(BatchPolicy(strategy, max_rows=1, max_age_s=0, max_bytes=1))
    assert not b.should_flush(0, 0, 100.0)
    assert not b.full(0, 0)


def test_immediate_flushes_whatever_is_there():
    b = Batcher(BatchPolicy("immediate"))
    assert b.should_flush(1, 10, 0.0)
    assert not b.full(1, 10)  # not a size trigger: flushed once per pass


def test_time_waits_for_the_age_only():
    b = Batcher(BatchPolicy("time", max_rows=10, max_age_s=2.0))
    assert not b.should_flush(10_000, 1 << 30, 1.9)
    assert b.should_flush(1, 10, 2.0)
    assert not b.full(10_000, 1 << 30)


def test_size_waits_for_rows_only():
    b = Batcher(BatchPolicy("size", max_rows=100, max_age_s=0.1))
    assert not b.should_flush(99, 1 << 30, 3600.0)
    assert b.should_flush(100, 10, 0.0)
    assert b.full(100, 10)


def test_hybrid_takes_whichever_comes_first():
    b = Batcher(BatchPolicy("hybrid", max_rows=100, max_age_s=2.0))
    assert not b.should_flush(99, 10, 1.0)
    assert b.should_flush(100, 10, 0.0)
    assert b.should_flush(1, 10, 2.5)


def test_memory_counts_bytes_with_age_as_safety_net():
    b = Batcher(BatchPolicy("memory", max_rows=1, max_bytes=1000, max_age_s=5.0))
    assert not b.should_flush(10_000, 999, 1.0)
    assert b.should_flush(1, 1000, 0.0)
    assert b.full(1, 1000)
    assert b.should_flush(1, 1, 5.0)


def test_adaptive_grows_when_flushes_are_fast_and_shrinks_when_slow():
    b = Batcher(BatchPolicy("adaptive", max_rows=1000, target_flush_ms=200, max_age_s=2.0))
    assert b.row_target == 1000
    for _ in range(20):
        b.observe(b.row_target, 0.020)  # 10x faster than the target
    grown = b.row_target
    assert grown > 1000
    assert grown <= ADAPTIVE_MAX_ROWS
    assert b.should_flush(grown, 0, 0.0)
    assert not b.should_flush(grown - 1, 0, 0.0)
    for _ in range(40):
        b.observe(b.row_target, 2.0)  # 10x slower
    assert b.row_target < grown
    assert b.row_target >= ADAPTIVE_MIN_ROWS
    assert b.should_flush(1, 0, 2.0)  # the age safety net


def test_adaptive_converges_to_the_target_latency():
    b = Batcher(BatchPolicy("adaptive", max_rows=100, target_flush_ms=200))
    for _ in range(30):
        rows = b.row_target
        b.observe(rows, rows * 0.0001)  # 0.1 ms per row: 2000 rows take 200 ms
    assert abs(b.row_target - 2000) < 20


def test_adaptive_stays_within_bounds():
    b = Batcher(BatchPolicy("adaptive"))
    for _ in range(50):
        b.observe(b.row_target, 1e-6)
    assert b.row_target == ADAPTIVE_MAX_ROWS
    for _ in range(50):
        b.observe(b.row_target, 1000.0)
    assert b.row_target == ADAPTIVE_MIN_ROWS


def test_observe_is_ignored_by_other_strategies():
    b = Batcher(BatchPolicy("size", max_rows=50))
    b.observe(50, 10.0)
    assert b.row_target == 50


def test_default_policies_follow_the_spec():
    p = default_policies()
    assert p["payments"].strategy == "immediate"
    assert p["events"] == BatchPolicy("hybrid", max_rows=1000, max_age_s=2.0)
    assert p["agreements"].strategy == "hybrid"
    q = default_policies(max_rows=10, max_age_s=0.5)
    assert q["events"].max_rows == 10
    assert q["events"].max_age_s == 0.5


def test_a_store_may_default_to_bigger_batches():
    duck = default_policies(store="duckdb")
    assert duck["events"] == BatchPolicy("hybrid", max_rows=STORE_BATCH_ROWS["duckdb"])
    assert duck["agreements"].max_rows == STORE_BATCH_ROWS["duckdb"]
    assert duck["payments"].strategy == "immediate"
    assert default_policies(store="clickhouse")["events"].max_rows == 100_000
    assert default_policies(store="nats")["events"].max_rows == 1000
    assert default_policies(max_rows=10, store="duckdb")["events"].max_rows == 10


def test_the_config_gives_a_duckdb_store_its_default_unless_a_size_is_set():
    from tracker.config import parse_config

    def events_policy(entry: dict) -> BatchPolicy:
        config, _ = parse_config({"Notify": [entry]}, strict=True)
        return config.notify[0].batching["events"]

    assert events_policy({"Type": "duckdb"}).max_rows == STORE_BATCH_ROWS["duckdb"]
    assert events_policy({"Type": "duckdb", "MaxBatchSize": 500}).max_rows == 500
    tables = {"Tables": {"events": {"MaxBatchTime": "1s"}}}
    assert events_policy({"Type": "duckdb", **tables}) == BatchPolicy(
        "hybrid", max_rows=STORE_BATCH_ROWS["duckdb"], max_age_s=1.0
    )
