"""Prometheus text and JSON views over the processes' published state.

Every worker publishes its counters and the shipper its sinks' state as JSON
files (tracker/runtime/statefile.py); these functions merge them so any worker
answers for the whole server.
"""

from __future__ import annotations

from typing import Any

from tracker.metrics.registry import LATENCY_BUCKETS


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sum(workers: list[dict[str, Any]], key: str) -> int:
    return sum(int(w.get(key, 0)) for w in workers)


def merged_latency(workers: list[dict[str, Any]]) -> dict[str, Any]:
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    total, count = 0.0, 0
    for w in workers:
        lat = w.get("routes", {}).get("latency", {})
        for i, n in enumerate(lat.get("counts", [])[: len(counts)]):
            counts[i] += n
        total += lat.get("sum", 0.0)
        count += lat.get("count", 0)
    return {"counts": counts, "sum": total, "count": count}


def prometheus_text(workers: list[dict[str, Any]], shipper: dict[str, Any] | None) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            out.append(f"{name}{labels} {value}")

    metric("tracker_events_received_total", "counter",
           "Events accepted and appended to the write-ahead log.",
           [("", _sum(workers, "events_received"))])
    metric("tracker_wal_bytes", "gauge", "Bytes held in write-ahead log segments.",
           [("", _sum(workers, "wal_bytes"))])
    metric("tracker_wal_full_rejections_total", "counter",
           "Requests answered 503 because the write-ahead log quota was reached.",
           [("", _sum(workers, "rejected_wal_full"))])
    metric("tracker_connections", "gauge", "Open client connections.",
           [("", _sum(workers, "connections"))])
    metric("tracker_workers", "gauge", "Worker processes publishing state.",
           [("", len(workers))])

    classes: dict[str, int] = {}
    for w in workers:
        for cls, n in w.get("responses", {}).items():
            classes[cls] = classes.get(cls, 0) + n
    metric("tracker_http_responses_total", "counter",
           "Every HTTP response written, by status class (protocol errors included).",
           [(f'{{class="{c}"}}', n) for c, n in sorted(classes.items())])
    metric("tracker_connections_rejected_total", "counter",
           "Connections refused with 503 over MaxConnections.",
           [("", _sum(workers, "connections_rejected"))])

    requests: dict[tuple[str, int], int] = {}
    for w in workers:
        for r in w.get("routes", {}).get("requests", []):
            key = (r["route"], r["status"])
            requests[key] = requests.get(key, 0) + r["count"]
    metric("tracker_http_requests_total", "counter", "HTTP requests by route and status.",
           [(f'{{route="{_label(r)}",status="{s}"}}', n) for (r, s), n in sorted(requests.items())])

    lat = merged_latency(workers)
    out.append("# HELP tracker_request_duration_seconds Time to handle a request.")
    out.append("# TYPE tracker_request_duration_seconds histogram")
    cumulative = 0
    for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), lat["counts"], strict=True):
        cumulative += n
        out.append(f'tracker_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
    out.append(f"tracker_request_duration_seconds_sum {lat['sum']}")
    out.append(f"tracker_request_duration_seconds_count {lat['count']}")

    sinks = (shipper or {}).get("sinks", {})
    delivered, lag, batches, failures, dead = [], [], [], [], []
    rows, flush, table_flush, table_flush_total = [], [], [], []
    for name, s in sorted(sinks.items()):
        sl = f'sink="{_label(name)}"'
        delivered.append((f"{{{sl}}}", sum(s.get("delivered", {}).values())))
        lag.append((f"{{{sl}}}", s.get("lag_events", 0)))
        dead.append((f"{{{sl}}}", s.get("dead_letters", 0)))
        for table, n in sorted(s.get("delivered", {}).items()):
            rows.append((f'{{{sl},table="{_label(table)}"}}', n))
        latency = s.get("flush_latency_ms", {})
        for q in ("p50", "p99", "max", "avg"):
            if q in latency:
                flush.append((f'{{{sl},stat="{q}"}}', latency[q]))
        for table, t in sorted(s.get("flush_latency_ms_by_table", {}).items()):
            tl = f'{sl},table="{_label(table)}"'
            table_flush_total.append((f"{{{tl}}}", t.get("sum", 0.0) / 1000.0))
            for q in ("p50", "p99", "max", "avg"):
                table_flush.append((f'{{{tl},stat="{q}"}}', t.get(q, 0.0)))
        for table, n in sorted(s.get("batches", {}).items()):
            batches.append((f'{{{sl},table="{_label(table)}"}}', n))
        for table, n in sorted(s.get("failures", {}).items()):
            failures.append((f'{{{sl},table="{_label(table)}"}}', n))
    metric("tracker_events_delivered_total", "counter", "Rows delivered to each sink.", delivered)
    metric("tracker_sink_lag_events", "gauge", "Events in the log not yet in the sink.", lag)
    metric("tracker_batches_total", "counter", "Batches written per sink and table.", batches)
    metric("tracker_batch_failures_total", "counter", "Failed batch writes per sink and table.",
           failures)
    metric("tracker_dead_letters_total", "counter", "Rows a sink rejected permanently.", dead)
    metric("tracker_rows_delivered_total", "counter", "Rows delivered per sink and table.", rows)
    metric("tracker_flush_latency_ms", "gauge",
           "Batch write latency per sink over recent flushes.", flush)
    metric("tracker_table_flush_latency_ms", "gauge",
           "Batch write latency per sink and table over recent flushes.", table_flush)
    metric("tracker_flush_seconds_total", "counter",
           "Time spent writing batches per sink and table (with tracker_batches_total: "
           "the average).", table_flush_total)
    return "\n".join(out) + "\n"


def metrics_json(workers: list[dict[str, Any]], shipper: dict[str, Any] | None) -> dict[str, Any]:
    lat = merged_latency(workers)
    return {
        "events_received_total": _sum(workers, "events_received"),
        "wal_bytes": _sum(workers, "wal_bytes"),
        "connections": _sum(workers, "connections"),
        "workers": len(workers),
        "request_latency": {"buckets": list(LATENCY_BUCKETS), **lat},
        "sinks": (shipper or {}).get("sinks", {}),
        "batching": (shipper or {}).get("batching", {"enabled": False}),
    }
