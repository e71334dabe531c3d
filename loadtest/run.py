"""`make loadtest`: tracker against the bare uvloop + httptools ceiling, in one run.

Layout on a 2-core machine: the server under test (the bare server, or the
tracker worker) is pinned to CPU 0 and the load generator to CPU 1, so each
run gets the same cores. The tracker's shipper is pinned to CPU 1 too, at
idle priority (SCHED_IDLE): it delivers with the time the generator leaves,
as it would on a machine of its own, without taking CPU 1 from the
generator. (Once the tracker answered ~90k requests/s, a shipper delivering
at normal priority beside wrk took enough of CPU 1 that wrk, not the worker,
set the rate: the worker was 18% idle.) The report says how far behind the
shipper was when the load stopped and how fast it then drained. During the
half-load run the open-loop generator spins on CPU 1, so the shipper is
paused (SIGSTOP) and catches up after. Both working at full single-event
load, unpinned and at normal priority, is `make loadtest-sustained`
(loadtest/sustained.py).

Printed per scenario: events/s acknowledged, requests/s, p50/p99 latency, and
at the end the ratio of tracker to the bare server for single events. After
the full GET load, the same GET runs again at half the rate it reached, from
the open-loop generator loadtest/openloop.py (wrk cannot hold a rate honestly):
target and achieved rate, p50/p99/p99.9 from each request's due time. The
bare server is measured before, between and after the single-event scenarios,
and each ratio is taken against the mean of the two bare runs around it. After
the tracker stops, the DuckDB file is counted: every answered event must be
there exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
SERVER_CPU = "0"
LOAD_CPU = "1"
# The DuckDB store's default batch (one row group): a smaller lag is a partial
# batch waiting for MaxBatchTime, not a backlog.
BATCH_ROWS = 122_880
WARMUP_SECONDS = 5


@dataclass
class WrkResult:
    requests: int
    non_2xx: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: str

    @property
    def ok_requests(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rps(self) -> float:
        return self.ok_requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def _ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def run_wrk(port: int, script: str, seconds: int, connections: int,
            cpu: str | None = LOAD_CPU, threads: int = 1) -> WrkResult:
    """wrk pinned to `cpu` (None: unpinned, as loadtest/sustained.py runs it)."""
    pin = ["taskset", "-c", cpu] if cpu is not None else []
    cmd = [*pin, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
           "--latency", "-s", str(HERE / "wrk" / script), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))
    dur = re.search(r"requests in ([\d.]+)(ms|s|m)", out)
    secs = float(dur.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[dur.group(2)]
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return WrkResult(requests, int(non.group(1)) if non else 0, secs,
                     _ms(p50.group(1)) if p50 else float("nan"),
                     _ms(p99.group(1)) if p99 else float("nan"),
                     errors.group(1) if errors else "none")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def process_cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user, system) of process `pid` so far, all its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def get_json(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


class Tracker:
    """A `tracker run` with one worker pinned to SERVER_CPU and its shipper to LOAD_CPU."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir = data_dir
        self.port = port
        config = {"ProxyPort": f"127.0.0.1:{port}", "Workers": 1, "DataDirectory": str(data_dir),
                  "Fsync": "interval", "ShutdownTimeout": 120, "LogLevel": "warning"}
        self.config_path = data_dir / "config.json"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config))
        self.proc = subprocess.Popen([PYTHON, "-m", "tracker", "run", str(self.config_path)],
                                     cwd=ROOT, start_new_session=True)
        wait_port(port)
        self.worker_pid = self._worker_pid()
        subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CPU, str(self.worker_pid)],
                       check=True, capture_output=True)
        for pid in self._children():
            if pid != self.worker_pid:
                subprocess.run(["taskset", "-a", "-p", "-c", LOAD_CPU, str(pid)],
                               check=True, capture_output=True)
                subprocess.run(["chrt", "-i", "-a", "-p", "0", str(pid)],
                               check=True, capture_output=True)

    def _children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        return [int(p) for p in out.split()]

    def _worker_pid(self) -> int:
        path = self.data_dir / "run" / "worker-0.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    return int(json.loads(path.read_text())["pid"])
                except (ValueError, KeyError):
                    pass
            time.sleep(0.1)
        raise RuntimeError("the worker did not publish its state")

    @contextlib.contextmanager
    def shipper_paused(self) -> Iterator[None]:
        """The shipper stopped (SIGSTOP) inside the block; the worker goes on
        appending to its log, and the shipper catches up after. On leaving,
        waits for the shipper to publish its state again: until then /health
        shows the lag from before the pause."""
        pids = [pid for pid in self._children() if pid != self.worker_pid]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        self._wait_for_shipper_state(time.time())

    def _wait_for_shipper_state(self, after: float, timeout: float = 30) -> None:
        path = self.data_dir / "run" / "shipper.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(path.read_text())["updated_at_ms"] > after * 1000:
                    return
            time.sleep(0.05)
        raise RuntimeError("the shipper did not publish its state after resuming")

    def received(self) -> int:
        return int(get_json(self.port, "/metrics?format=json")["events_received_total"])

    def delivered(self) -> tuple[int, int]:
        """(events delivered to the stores, events lagging), as the shipper last published."""
        m = get_json(self.port, "/metrics?format=json")
        sinks = m["sinks"].values()
        return (sum(sum(s.get("delivered", {}).values()) for s in sinks),
                sum(int(s.get("lag_events", 0)) for s in sinks))

    def lag(self) -> int:
        sinks = get_json(self.port, "/health")["sinks"]
        return sum(int(s["lag_events"]) for s in sinks.values())

    def wait_drained(self, timeout: float = 600) -> float:
        """Seconds until the shipper's lag reaches 0 (state is published twice a second)."""
        start = time.monotonic()
        time.sleep(1.0)
        while time.monotonic() - start < timeout:
            if self.lag() == 0:
                return time.monotonic() - start
            time.sleep(0.25)
        raise RuntimeError("the shipper did not catch up")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=300)


def count_duckdb(path: Path) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT eid) FROM events").fetchone()
    finally:
        con.close()
    return int(total), int(distinct)


class DeliverySampler(threading.Thread):
    """Samples the shipper's delivered counter while a scenario runs and drains."""

    def __init__(self, tracker: Tracker):
        super().__init__(daemon=True)
        self.tracker = tracker
        self.samples: list[tuple[float, int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            delivered, lag = self.tracker.delivered()
            self.samples.append((time.monotonic(), delivered, lag))

    def rate_between(self, t0: float, t1: float) -> float:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def backlog_rate(self, start: float) -> tuple[float, float]:
        """Delivery rate after the load while a backlog remained, and its duration.

        The window ends at the first sample whose lag is below one full batch:
        what is left then is a partial batch that waits for MaxBatchTime by design.
        """
        after = [s for s in self.samples if s[0] >= start]
        if not after or after[0][2] < BATCH_ROWS:
            return float("nan"), 0.0
        end = next((s for s in after if s[2] < BATCH_ROWS), after[-1])
        seconds = end[0] - after[0][0]
        return ((end[1] - after[0][1]) / seconds if seconds > 0 else float("nan")), seconds


def scenario(name: str, port: int, script: str, seconds: int, connections: int,
             events_per_request: int, server_pid: int) -> dict:
    """One wrk load; with the server's CPU per request, split into user space and
    kernel (the kernel's share is mostly loopback TCP, the same work for any server)."""
    user0, sys0 = process_cpu_s(server_pid)
    r = run_wrk(port, script, seconds, connections)
    user1, sys1 = process_cpu_s(server_pid)
    requests = max(1, r.requests)
    res = {"scenario": name, "requests": r.requests, "non_2xx": r.non_2xx,
           "events_per_s": round(r.rps * events_per_request), "requests_per_s": round(r.rps),
           "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "socket_errors": r.socket_errors,
           "answered_events": r.ok_requests * events_per_request,
           "server_user_us_per_request": round((user1 - user0) / requests * 1e6, 2),
           "server_sys_us_per_request": round((sys1 - sys0) / requests * 1e6, 2),
           "server_cores": round((user1 - user0 + sys1 - sys0) / r.seconds, 2)}
    print(f"  {name:<34} {res['events_per_s']:>10,} events/s  {res['requests_per_s']:>8,} req/s"
          f"  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  non-2xx {r.non_2xx}"
          f"  socket errors: {r.socket_errors}", flush=True)
    print(f"    server CPU per request: user {res['server_user_us_per_request']:.2f} us, "
          f"kernel {res['server_sys_us_per_request']:.2f} us "
          f"({res['server_cores']:.2f} cores busy)", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    results: dict = {"seconds": args.seconds, "connections": args.connections}

    # The bare server runs beside the tracker (idle while the tracker is loaded)
    # and is measured before, between and after the single-event scenarios: each
    # ratio uses the bare runs on either side of it, so a machine that speeds up
    # or slows down during the run (shared hosts do) skews no ratio.
    print(f"== bare uvloop + httptools server (CPU {SERVER_CPU}; wrk on CPU {LOAD_CPU}), "
          "measured around each single-event scenario")
    bare_port = free_port()
    bare = subprocess.Popen(["taskset", "-c", SERVER_CPU, PYTHON, str(HERE / "bare_server.py"),
                             str(bare_port)], stdout=subprocess.DEVNULL)
    bare_runs: list[dict] = []

    def measure_bare() -> float:
        bare_runs.append(scenario(f"bare: GET (run {len(bare_runs) + 1})", bare_port, "bare.lua",
                                  args.seconds, args.connections, 1, bare.pid))
        return bare_runs[-1]["requests_per_s"]

    results["bare_runs"] = bare_runs
    try:
        wait_port(bare_port)
        measure_bare()
        ratios = run_tracker(args, results, measure_bare, bare_port)
    finally:
        bare.terminate()
        bare.wait()
    results["bare"] = bare_runs[0]
    for key, value in ratios.items():
        results[f"ratio_{key}"] = round(value, 3)
    print("== ratio to the bare server (each against the mean of the bare runs around it): "
          + ", ".join(f"{key.upper()} {value:.1%}" for key, value in ratios.items()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results["all_stored_once"] else 1


def run_tracker(args: argparse.Namespace, results: dict,
                measure_bare: Callable[[], float], bare_port: int) -> dict[str, float]:
    """The tracker scenarios, each checked for delivery; `measure_bare` runs the
    bare server again (returning its req/s) after each single-event scenario.
    Returns the single-event ratios to the bare runs on either side."""
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tracker-load-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        print("== tracker, 1 worker, DuckDB store")
        tracker = Tracker(data_dir, port)
        try:
            rss_start = rss_mb(tracker.worker_pid)
            warm_up(tracker, port, args)
            runs = [("tracker: GET path pairs", "get_event.lua", 1, "get"),
                    ("tracker: POST JSON", "post_event.lua", 1, "post"),
                    ("tracker: POST 100-event batches", "post_batch.lua", 100, None)]
            bare_before = results["bare_runs"][-1]["requests_per_s"]
            for name, script, per_request, ratio_key in runs:
                res = run_scenario(tracker, name, port, script, args, per_request)
                results[script.removesuffix(".lua")] = res
                if ratio_key is not None:
                    bare_after = measure_bare()
                    ceiling = (bare_before + bare_after) / 2
                    ratios[ratio_key] = res["requests_per_s"] / max(1.0, ceiling)
                    bare_before = bare_after
                if ratio_key == "get":
                    results["get_half_load"] = run_half_load(tracker, port, args,
                                                             res["requests_per_s"] / 2,
                                                             bare_port)
            results["worker_rss_mb_start"] = round(rss_start, 1)
            total_received = tracker.received()
        finally:
            tracker.stop()
        stored, distinct = count_duckdb(data_dir / "tracker.duckdb")
        answered = sum(results[k]["answered_events"]
                       for k in ("get_event", "get_half_load", "post_event", "post_batch"))
        results["stored"] = {"rows": stored, "distinct_eids": distinct,
                             "received_by_server": total_received, "answered": answered}
        print(f"== stored in DuckDB: {stored:,} rows, {distinct:,} distinct eids; "
              f"server received {total_received:,}; wrk saw {answered:,} answered")
        ok = stored == distinct == total_received and stored >= answered
        print("   every answered event stored exactly once:", "yes" if ok else "NO")
        results["all_stored_once"] = ok
    return ratios


def warm_up(tracker: Tracker, port: int, args: argparse.Namespace) -> None:
    """WARMUP_SECONDS of the GET load, not measured, then until the shipper caught
    up: the worker's caches (clients, pages' campaign fields) fill, and the log's
    first segment files are written. On this VM the first pages a process
    writes cost it several times the kernel time of pages it wrote before
    (docs/PERFORMANCE.md, session 4), and the bare server, which allocates
    nothing, never pays that; without this the first scenario alone paid it."""
    run_wrk(port, "get_event.lua", WARMUP_SECONDS, args.connections)
    tracker.wait_drained()
    print(f"  (warm-up: {WARMUP_SECONDS} s of GET load, not measured)", flush=True)


def run_scenario(tracker: Tracker, name: str, port: int, script: str,
                 args: argparse.Namespace, per_request: int) -> dict:
    """One wrk load on the tracker, then how the shipper kept up and drained."""
    before = tracker.received()
    sampler = DeliverySampler(tracker)
    sampler.start()
    load_start = time.monotonic()
    res = scenario(name, port, script, args.seconds, args.connections, per_request,
                   tracker.worker_pid)
    load_end = time.monotonic()
    res["received_by_server"] = tracker.received() - before
    res["lag_at_end"] = tracker.lag()
    res["worker_rss_mb"] = round(rss_mb(tracker.worker_pid), 1)
    drain_s = tracker.wait_drained()
    sampler.stop.set()
    sampler.join()
    during = sampler.rate_between(load_start, load_end)
    backlog, backlog_s = sampler.backlog_rate(load_end)
    res.update(drain_seconds=round(drain_s, 2),
               delivered_per_s_during_load=round(during),
               delivered_per_s_backlog=None if backlog != backlog else round(backlog),
               backlog_seconds=round(backlog_s, 2))
    backlog_text = (f"{backlog:,.0f} events/s over {backlog_s:.1f}s"
                    if backlog == backlog else "no backlog of a full batch")
    print(f"    received {res['received_by_server']:,}; shipper delivered "
          f"{during:,.0f} events/s during the load (idle priority), lag at the end "
          f"{res['lag_at_end']:,}; draining the backlog: {backlog_text}; "
          f"lag 0 after {drain_s:.1f}s; worker RSS {res['worker_rss_mb']} MB", flush=True)
    return res


def open_loop(port: int, rate: float, args: argparse.Namespace) -> dict:
    """loadtest/openloop.py against `port` at `rate` GET requests/s, on LOAD_CPU."""
    cmd = ["taskset", "-c", LOAD_CPU, PYTHON, str(HERE / "openloop.py"), str(port),
           "--rate", str(round(rate)), "--seconds", str(args.seconds + 1), "--warmup", "1",
           "--connections", str(args.connections)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if not out.stdout.strip():
        raise RuntimeError(f"openloop.py failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def print_open_loop(res: dict, how: str) -> None:
    print(f"  {res['scenario']:<40} target {res['target_per_s']:,} req/s, achieved "
          f"{res['achieved_per_s']:,} req/s (open loop, {res['connections']} connections"
          f"{how})  p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms"
          f"  p99.9 {res['p999_ms']:.2f} ms  max {res['max_ms']:.2f} ms"
          f"  non-2xx {res['non_2xx']}  unanswered {res['unanswered']}", flush=True)


def run_half_load(tracker: Tracker, port: int, args: argparse.Namespace, rate: float,
                  bare_port: int) -> dict:
    """The GET load again at `rate` requests/s (half the full-load rate), open loop,
    then the same against the bare server: the generator's own floor.

    wrk cannot hold a rate without hiding stalls (see loadtest/openloop.py), so
    the open-loop generator runs on LOAD_CPU in wrk's place; latency is taken
    from each request's due time. It spins rather than sleeps, so it needs
    LOAD_CPU to itself: the shipper is paused (an earlier version ran the
    generator SCHED_FIFO beside the shipper; spinning under SCHED_FIFO gets it
    throttled by the kernel for 50 ms a second). At these rates the generator
    is itself near the end of its core, so its latency against the bare
    server, which answers at once, is printed beside the tracker's."""
    before = tracker.received()
    lag_before = tracker.lag()
    with tracker.shipper_paused():
        res = open_loop(port, rate, args)
        received = tracker.received() - before
    res["scenario"] = "tracker: GET at half the full-load rate"
    res["shipper_paused"] = True
    res["answered_events"] = res["answered"] - res["non_2xx"]
    res["received_by_server"] = received
    # Paused, the shipper delivered nothing: what it owes is all that came in.
    res["lag_at_end"] = lag_before + received
    res["worker_rss_mb"] = round(rss_mb(tracker.worker_pid), 1)
    res["drain_seconds"] = round(tracker.wait_drained(), 2)
    print_open_loop(res, ", shipper paused")
    print(f"    received {res['received_by_server']:,}; latest send "
          f"{res['max_send_delay_ms']:.2f} ms after its due time; lag at the end "
          f"{res['lag_at_end']:,}, 0 after {res['drain_seconds']:.1f}s", flush=True)
    floor = open_loop(bare_port, rate, args)
    floor["scenario"] = "bare: GET at the same rate"
    print_open_loop(floor, "")
    res["bare_at_same_rate"] = floor
    return res


if __name__ == "__main__":
    raise SystemExit(main())
