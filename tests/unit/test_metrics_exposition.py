import re

from tracker.metrics.exposition import prometheus_text
from tracker.shipper.stats import RunnerStats


def shipper_state() -> dict:
    stats = RunnerStats(["events", "payments"])
    for seconds in (0.010, 0.020, 0.030):
        stats.delivered("events", 100, seconds)
    stats.delivered("payments", 1, 0.004)
    stats.failed("payments", "RetryableError: down")
    return {"sinks": {"duckdb": {**stats.snapshot(), "lag_events": 7, "dead_letters": 0}}}


def samples(text: str, name: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2))
            for m in re.finditer(rf"^{name}(\{{[^}}]*\}}) (\S+)$", text, re.M)}


def test_flush_latency_per_sink_and_table() -> None:
    text = prometheus_text([], shipper_state())
    table = samples(text, "tracker_table_flush_latency_ms")
    assert table['{sink="duckdb",table="events",stat="max"}'] == 30.0
    assert table['{sink="duckdb",table="events",stat="avg"}'] == 20.0
    assert table['{sink="duckdb",table="payments",stat="p99"}'] == 4.0
    total = samples(text, "tracker_flush_seconds_total")
    assert abs(total['{sink="duckdb",table="events"}'] - 0.06) < 1e-9
    assert samples(text, "tracker_batches_total") == {
        '{sink="duckdb",table="events"}': 3.0, '{sink="duckdb",table="payments"}': 1.0}
    assert samples(text, "tracker_batch_failures_total")['{sink="duckdb",table="payments"}'] == 1
    assert samples(text, "tracker_rows_delivered_total")['{sink="duckdb",table="events"}'] == 300
    assert samples(text, "tracker_sink_lag_events") == {'{sink="duckdb"}': 7.0}
    assert "# TYPE tracker_flush_seconds_total counter" in text


def test_a_table_without_flushes_reports_zeros() -> None:
    snapshot = RunnerStats(["agreements"]).snapshot()
    assert snapshot["flush_latency_ms_by_table"]["agreements"] == {
        "count": 0, "sum": 0.0, "avg": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
