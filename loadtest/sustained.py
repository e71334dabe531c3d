"""`make loadtest-sustained`: does the shipper keep up, and does worker memory stay flat?

    python loadtest/sustained.py [--seconds 60] [--store duckdb|clickhouse|both] [--json FILE]

For each store: `tracker run` with Workers=2 (this machine's core count) and
that store alone, under wrk's full single-event GET load (wrk/get_event.lua)
for --seconds. Nothing is pinned: wrk, both workers, the shipper and (for
ClickHouse) the server share the 2 cores, so this measures whether delivery
keeps up and memory stays flat, not the peak rate (run.py measures that).

Every second it samples the shipper's lag (/health, lag_events summed over the
sinks), the delivered and received counters (/metrics?format=json) and each
worker's RSS (/proc/<pid>/status VmRSS; pids from DataDirectory/run/worker-*.json).
It prints one row per 5 seconds and a summary: maximum lag, lag when the load
stopped, seconds until the lag reached 0 after the load, RSS start/max/end per
worker and the RSS slope over the last 45 s of the load. After the tracker
stops, the store is counted: every answered event must be stored exactly once
(DuckDB: count(*), count(DISTINCT eid) and the received counter agree;
ClickHouse: count() FINAL, uniqExact(eid) likewise, in a fresh database
tracker_load_<random> that is dropped at the end).

ClickHouse is the private server of scripts/services/clickhouse.sh (started
when it does not answer); TRACKER_CLICKHOUSE_HOST/_PORT/_HTTP_PORT as for the
tests. The store keeps its default batching.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (  # scripts, not a package
    WrkResult,
    count_duckdb,
    free_port,
    get_json,
    rss_mb,
    run_wrk,
    wait_port,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
WORKERS = 2
SLOPE_WINDOW_S = 45.0
TABLE_EVERY_S = 5


@dataclass
class ClickHouseTarget:
    host: str
    port: int
    http_port: int
    database: str

    @classmethod
    def from_env(cls) -> ClickHouseTarget:
        return cls(os.environ.get("TRACKER_CLICKHOUSE_HOST", "127.0.0.1"),
                   int(os.environ.get("TRACKER_CLICKHOUSE_PORT", "19000")),
                   int(os.environ.get("TRACKER_CLICKHOUSE_HTTP_PORT", "18123")),
                   f"tracker_load_{secrets.token_hex(4)}")

    def notify(self) -> dict:
        return {"Type": "clickhouse", "Host": self.host, "Port": self.port,
                "HttpPort": self.http_port, "Database": self.database}

    def execute(self, sql: str) -> list[tuple]:
        from clickhouse_driver import Client

        client = Client(self.host, port=self.port)
        try:
            return client.execute(sql)
        finally:
            client.disconnect()


@dataclass
class Sample:
    t: float  # seconds since the load started
    received: int | None
    delivered: int | None
    lag: int | None
    rss_mb: list[float] = field(default_factory=list)


class TrackerRun:
    """`tracker run` with WORKERS workers and one store, unpinned."""

    def __init__(self, data_dir: Path, port: int, notify: dict):
        self.data_dir = data_dir
        self.port = port
        data_dir.mkdir(parents=True, exist_ok=True)
        config = {"ProxyPort": f"127.0.0.1:{port}", "Workers": WORKERS,
                  "DataDirectory": str(data_dir), "Fsync": "interval", "ShutdownTimeout": 300,
                  "LogLevel": "warning", "Notify": [notify]}
        config_path = data_dir / "config.json"
        config_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen([PYTHON, "-m", "tracker", "run", str(config_path)],
                                     cwd=ROOT, start_new_session=True)
        wait_port(port)
        self.worker_pids = self._worker_pids()

    def _worker_pids(self) -> list[int]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = []
            for path in sorted((self.data_dir / "run").glob("worker-*.json")):
                try:
                    pids.append(int(json.loads(path.read_text())["pid"]))
                except (ValueError, KeyError, OSError):
                    break
            if len(pids) == WORKERS:
                return pids
            time.sleep(0.1)
        raise RuntimeError("the workers did not publish their state")

    def sample(self, t: float) -> Sample:
        # Under full load an answer can be slow; a missed sample stays None.
        received = delivered = lag = None
        try:
            m = get_json(self.port, "/metrics?format=json")
            received = int(m["events_received_total"])
            delivered = sum(sum(s.get("delivered", {}).values()) for s in m["sinks"].values())
            sinks = get_json(self.port, "/health")["sinks"].values()
            lag = sum(int(s["lag_events"]) for s in sinks)
        except (OSError, ValueError, KeyError):
            pass
        return Sample(t, received, delivered, lag, [rss_mb(pid) for pid in self.worker_pids])

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=600)


class Sampler(threading.Thread):
    """One sample a second, from the start of the load until stopped."""

    def __init__(self, tracker: TrackerRun, start: float):
        super().__init__(daemon=True)
        self.tracker = tracker
        self.start_at = start
        self.samples: list[Sample] = []
        self.halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.halt.is_set():
            self.samples.append(self.tracker.sample(time.monotonic() - self.start_at))
            tick += 1
            self.halt.wait(max(0.0, self.start_at + tick - time.monotonic()))


def rss_slope_mb_per_min(samples: list[Sample], worker: int, load_end: float) -> float:
    """Least-squares slope of one worker's RSS over the last SLOPE_WINDOW_S of the load."""
    pts = [(s.t, s.rss_mb[worker]) for s in samples
           if load_end - SLOPE_WINDOW_S <= s.t <= load_end and s.rss_mb[worker] == s.rss_mb[worker]]
    if len(pts) < 2:
        return float("nan")
    mean_t = sum(t for t, _ in pts) / len(pts)
    mean_r = sum(r for _, r in pts) / len(pts)
    var = sum((t - mean_t) ** 2 for t, _ in pts)
    cov = sum((t - mean_t) * (r - mean_r) for t, r in pts)
    return cov / var * 60 if var else float("nan")


def print_table(samples: list[Sample]) -> None:
    print(f"    {'t s':>5} {'received/s':>11} {'delivered/s':>12} {'lag':>9}  "
          + "  ".join(f"RSS w{i} MB" for i in range(WORKERS)))
    prev = None
    for s in samples:
        if round(s.t) % TABLE_EVERY_S != 0 or s.received is None or s.delivered is None:
            continue
        if prev is not None and s.t > prev.t:
            span = s.t - prev.t
            rec = f"{(s.received - prev.received) / span:>11,.0f}"
            dlv = f"{(s.delivered - prev.delivered) / span:>12,.0f}"
        else:
            rec, dlv = f"{'':>11}", f"{'':>12}"
        lag = f"{s.lag:>9,}" if s.lag is not None else f"{'?':>9}"
        print(f"    {s.t:>5.0f} {rec} {dlv} {lag}  "
              + "  ".join(f"{r:>10.1f}" for r in s.rss_mb), flush=True)
        prev = s


def count_clickhouse(target: ClickHouseTarget) -> dict:
    db = target.database
    (rows,), = target.execute(f"SELECT count() FROM {db}.events FINAL")
    (distinct,), = target.execute(f"SELECT uniqExact(eid) FROM {db}.events")
    return {"rows": int(rows), "distinct_eids": int(distinct)}


def ensure_clickhouse() -> None:
    script = ROOT / "scripts" / "services" / "clickhouse.sh"
    if subprocess.run(["bash", str(script), "status"], capture_output=True).returncode != 0:
        subprocess.run(["bash", str(script), "start"], check=True)


def run_store(store: str, args: argparse.Namespace) -> dict:
    target = ClickHouseTarget.from_env() if store == "clickhouse" else None
    notify = target.notify() if target else {"Type": "duckdb"}
    where = f", database {target.database}" if target else ""
    print(f"== {store}: tracker run, Workers={WORKERS}, unpinned (wrk -t{args.threads} "
          f"-c{args.connections} shares the cores){where}; {args.seconds}s of GET single events",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="tracker-sustained-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        tracker = TrackerRun(data_dir, port, notify)
        stopped = False
        try:
            start = time.monotonic()
            sampler = Sampler(tracker, start)
            sampler.start()
            wrk = run_wrk(port, "get_event.lua", args.seconds, args.connections, cpu=None,
                          threads=args.threads)
            load_end = time.monotonic() - start
            drain_s = wait_drained(sampler, load_end, args.drain_timeout)
            sampler.halt.set()
            sampler.join()
            final = tracker.sample(time.monotonic() - start)
            exit_code = tracker.stop()
            stopped = True
            if target is None:
                rows, distinct = count_duckdb(data_dir / "tracker.duckdb")
                counts = {"rows": rows, "distinct_eids": distinct}
            else:
                counts = count_clickhouse(target)
        finally:
            if not stopped:
                tracker.stop()
            if target is not None:
                target.execute(f"DROP DATABASE IF EXISTS {target.database}")
    samples = sampler.samples
    print_table(samples)
    return summarize(store, samples, load_end, drain_s, wrk, final, counts, exit_code)


def wait_drained(sampler: Sampler, load_end: float, timeout: float) -> float | None:
    """Seconds from the end of the load until a sample shows lag 0 (None: not within timeout)."""
    while True:
        after = [s for s in sampler.samples if s.t > load_end + 0.5]
        done = next((s for s in after if s.lag == 0), None)
        if done is not None:
            return done.t - load_end
        if after and after[-1].t - load_end > timeout:
            return None
        time.sleep(0.5)


def summarize(store: str, samples: list[Sample], load_end: float, drain_s: float | None,
              wrk: WrkResult, final: Sample, counts: dict, exit_code: int) -> dict:
    during = [s for s in samples if s.t <= load_end]
    lags = [s.lag for s in during if s.lag is not None]
    at_end = next((s for s in reversed(during) if s.lag is not None), None)
    rss = []
    for w in range(WORKERS):
        values = [s.rss_mb[w] for s in during if s.rss_mb[w] == s.rss_mb[w]]
        rss.append({"start_mb": round(values[0], 1), "max_mb": round(max(values), 1),
                    "end_mb": round(values[-1], 1),
                    "slope_mb_per_min_last_45s": round(rss_slope_mb_per_min(samples, w,
                                                                            load_end), 2)})
    received = final.received
    ok = (received is not None and counts["rows"] == counts["distinct_eids"] == received
          and counts["rows"] >= wrk.ok_requests and exit_code == 0)
    res = {"store": store, "workers": WORKERS, "seconds": round(load_end, 1),
           "wrk_requests_per_s": round(wrk.rps), "wrk_p50_ms": wrk.p50_ms,
           "wrk_p99_ms": wrk.p99_ms, "answered": wrk.ok_requests, "non_2xx": wrk.non_2xx,
           "socket_errors": wrk.socket_errors, "max_lag": max(lags) if lags else None,
           "lag_at_load_end": at_end.lag if at_end else None,
           "drain_seconds_after_load": None if drain_s is None else round(drain_s, 1),
           "worker_rss": rss, "received_by_server": received, **counts,
           "tracker_exit_code": exit_code, "all_stored_once": ok,
           "samples": [{"t": round(s.t, 2), "received": s.received, "delivered": s.delivered,
                        "lag": s.lag, "rss_mb": [round(r, 1) for r in s.rss_mb]}
                       for s in samples]}
    drain = "not within the timeout" if drain_s is None else f"after {drain_s:.1f}s"
    print(f"  load: {res['wrk_requests_per_s']:,} req/s answered (wrk p50 {wrk.p50_ms:.2f} ms, "
          f"p99 {wrk.p99_ms:.2f} ms, non-2xx {wrk.non_2xx}, socket errors: {wrk.socket_errors})")
    print(f"  lag: max {_n(res['max_lag'])} events, {_n(res['lag_at_load_end'])} when the load "
          f"stopped, 0 {drain}")
    for w, r in enumerate(rss):
        print(f"  worker {w} RSS: start {r['start_mb']} MB, max {r['max_mb']} MB, end "
              f"{r['end_mb']} MB, slope over the last {SLOPE_WINDOW_S:.0f}s of the load "
              f"{r['slope_mb_per_min_last_45s']:+.2f} MB/min")
    print(f"  stored: {counts['rows']:,} rows, {counts['distinct_eids']:,} distinct eids; "
          f"server received {_n(received)}; wrk saw {wrk.ok_requests:,} answered; "
          f"every answered event stored exactly once: {'yes' if ok else 'NO'}", flush=True)
    return res


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--store", choices=["duckdb", "clickhouse", "both"], default="both")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    stores = ["duckdb", "clickhouse"] if args.store == "both" else [args.store]
    if "clickhouse" in stores:
        ensure_clickhouse()
    results = [run_store(store, args) for store in stores]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(r["all_stored_once"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
