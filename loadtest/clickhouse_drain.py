"""Shipper drain benchmark for ClickHouse: how fast a backlog in the log reaches the server.

Run (server: `bash scripts/services/clickhouse.sh start`; on the shared 2-core
machine under the benchmark lock):

    flock /tmp/tracker-bench.lock .venv/bin/python loadtest/clickhouse_drain.py \
        [--events 1000000] [--max-rows 100000] [--compression lz4|gzip|none]

1. Writes `--events` realistic events rows into the log of a temporary
   DataDirectory (loadtest/drain.py's `write_log`: EventBuilder rows, 1-row and
   100-row records as workers write them).
2. Runs the real Shipper with only a ClickHouseSink (events batched by
   `--max-rows`), and times until every event is committed.
3. Prints events/s, the batch sizes, shipper CPU per event, where the sink's
   time went (encoding vs the HTTP insert, which includes compression and the
   server), the server's CPU during the drain, user and kernel (when it is the
   private test server, whose pid file we know), and checks the count with FINAL.
4. Prints what could skew the run: parts and running merges left by earlier
   runs (it waits for running merges first unless `--no-settle`), the
   machine's steal time and the CPU other processes used during the drain,
   the merges of this run's parts seen in system.merges, the parts left.

Environment: TRACKER_CLICKHOUSE_HOST / _PORT / _HTTP_PORT as for the tests,
TRACKER_CLICKHOUSE_DIR as for scripts/services/clickhouse.sh (its pid file).
`--profile FILE` writes a cProfile of the sink thread (pstats format).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from clickhouse_driver import Client

from tracker._fast import USING_EXTENSIONS
from tracker.shipper import BatchPolicy, Shipper, default_policies
from tracker.sinks.clickhouse import ClickHouseSink

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drain import write_log  # loadtest/ is a directory of scripts, not a package
from run import process_cpu_s

ROOT = Path(__file__).resolve().parents[1]
SERVER_DIR = Path(os.environ.get("TRACKER_CLICKHOUSE_DIR") or ROOT / ".services" / "clickhouse")
SERVER_PID_FILE = SERVER_DIR / "clickhouse-server.pid"


class TimedSink(ClickHouseSink):
    """The ClickHouse sink, also recording batch sizes and the time of each step."""

    def __init__(self, *args, profile: Path | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []
        self.written_at: list[float] = []  # perf_counter at the end of each write
        self.write_s = 0.0
        self.insert_s = 0.0
        self._profile_path = profile
        self._profiler: cProfile.Profile | None = None
        for lane in self._lanes:
            lane.insert = self._timed(lane.insert)  # type: ignore[method-assign]

    def _timed(self, insert):
        def timed_insert(query: str, block: bytes) -> None:
            t0 = time.perf_counter()
            try:
                insert(query, block)
            finally:
                self.insert_s += time.perf_counter() - t0
        return timed_insert

    def open(self) -> None:
        if self._profile_path and self._profiler is None:
            self._profiler = cProfile.Profile()
            self._profiler.enable()
        super().open()

    def write(self, batch) -> None:
        t0 = time.perf_counter()
        super().write(batch)
        t1 = time.perf_counter()
        self.write_s += t1 - t0
        self.sizes.append(batch.num_rows)
        self.written_at.append(t1)

    def close(self) -> None:
        super().close()
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(str(self._profile_path))
            self._profiler = None


def server_cpu_s() -> tuple[float, float] | None:
    """CPU seconds (user, system) of the private test server, if we know its pid."""
    try:
        pid = int(SERVER_PID_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    user, system = process_cpu_s(pid)
    return None if user != user else (user, system)  # nan: no such process


def machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of this VM so far, all cores (/proc/stat's first line)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


class MergeWatcher(threading.Thread):
    """Polls system.merges during the drain: which merges of `database` ran, how many at once.

    Its own native connection; one tiny query every `interval` seconds.
    """

    def __init__(self, client: Client, database: str, interval: float = 0.05) -> None:
        super().__init__(name="merge-watcher", daemon=True)
        self.client, self.database, self.interval = client, database, interval
        self.seen: set[str] = set()
        self.others: set[str] = set()  # merges in other databases (leftovers)
        self.most_at_once = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            rows = self.client.execute("SELECT database, result_part_name FROM system.merges")
            mine = {name for db, name in rows if db == self.database}
            self.seen |= mine
            self.others |= {f"{db}.{name}" for db, name in rows if db != self.database}
            self.most_at_once = max(self.most_at_once, len(mine))

    def stop(self) -> None:
        self._done.set()
        self.join()


def running_merges(client: Client) -> int:
    return client.execute("SELECT count() FROM system.merges")[0][0]


def settle(client: Client, timeout: float) -> float:
    """Wait until the server runs no merge (leftovers of earlier runs); seconds waited."""
    t0 = time.perf_counter()
    while running_merges(client) and time.perf_counter() - t0 < timeout:
        time.sleep(0.1)
    return time.perf_counter() - t0


def parts_summary(client: Client, database: str) -> str:
    active, level, rows = client.execute(
        "SELECT count(), max(level), sum(rows) FROM system.parts "
        "WHERE database = %(db)s AND table = 'events' AND active", {"db": database})[0]
    return f"{active} active parts (max level {level}, {rows:,} rows)"


def drain(data_dir: Path, events: int, sink: TimedSink, policies: dict[str, BatchPolicy],
          timeout: float, watcher: MergeWatcher) -> dict:
    shipper = Shipper(data_dir, [(sink, policies)])
    runner = shipper.runners[0]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    server0 = server_cpu_s()
    machine0 = machine_cpu_s()
    watcher.start()
    t0 = time.perf_counter()
    shipper.start()
    deadline = t0 + timeout
    while True:
        snap = runner.snapshot()
        committed = sum(p["events"] for p in snap["cursor"].values())
        if committed >= events:
            break
        if time.perf_counter() > deadline:
            shipper.stop(30, drain=False)
            raise SystemExit(f"not drained after {timeout}s: {committed:,} of {events:,}; "
                             f"last error: {snap.get('last_error')}")
        time.sleep(0.005)
    seconds = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    server1 = server_cpu_s()
    machine1 = machine_cpu_s()
    watcher.stop()
    shipper.stop(30)
    # The watcher's polling is a few ms of this process's CPU; it stays in.
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    server = None
    if server0 is not None and server1 is not None:
        server = (server1[0] - server0[0], server1[1] - server0[1])
    # Everything else that ran on the machine meanwhile (other test runs, kernel
    # writeback): the noise this run competed with.
    # (jiffies, 10 ms: a difference of ~0 can come out slightly negative)
    others = max(0.0, machine1[0] - machine0[0] - cpu - (sum(server) if server else 0.0))
    # Sustained: up to the end of the last full batch; the last, partial one waits
    # for its age trigger (MaxBatchTime) before it is written.
    if len(sink.sizes) > 1:
        caught_up = (sink.written_at[-2] - t0, sum(sink.sizes[:-1]))
    else:
        caught_up = (seconds, events)
    return {"seconds": seconds, "caught_up": caught_up, "cpu": cpu, "server_cpu": server,
            "steal": machine1[1] - machine0[1], "others": others}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--single", type=float, default=0.1,
                    help="share of events written as 1-row records (the rest: 100-row)")
    ap.add_argument("--max-rows", type=int, default=100_000, help="MaxBatchSize for events")
    ap.add_argument("--compression", choices=("lz4", "gzip", "none"),
                    help="default: the sink's choice (none to a loopback server, else lz4)")
    ap.add_argument("--lanes", type=int, default=2, help="concurrent INSERTs per batch")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the sink thread here")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--no-settle", dest="settle", action="store_false",
                    help="start without waiting for the server's running merges to finish")
    args = ap.parse_args()

    env = os.environ
    host = env.get("TRACKER_CLICKHOUSE_HOST", "127.0.0.1")
    port = int(env.get("TRACKER_CLICKHOUSE_PORT", "19000"))
    http_port = int(env.get("TRACKER_CLICKHOUSE_HTTP_PORT", "18123"))
    database = f"tracker_drain_{uuid.uuid4().hex[:8]}"
    options = {"Host": host, "Port": port, "HttpPort": http_port, "Database": database}
    sink = TimedSink("clickhouse", options, compression=args.compression, lanes=args.lanes,
                     profile=args.profile)

    policies = default_policies()
    policies["events"] = BatchPolicy("hybrid", max_rows=args.max_rows,
                                     max_age_s=policies["events"].max_age_s)
    client = Client(host, port=port)
    watcher = MergeWatcher(Client(host, port=port), database)
    try:
        with tempfile.TemporaryDirectory(prefix="tracker-ch-drain-") as tmp:
            data_dir = Path(tmp)
            t0 = time.perf_counter()
            records, columns = write_log(data_dir, args.events, args.workers, args.single,
                                         args.seed)
            wal_mb = sum(p.stat().st_size for p in (data_dir / "wal").rglob("*.seg")) / (1 << 20)
            version = client.execute("SELECT version()")[0][0]
            print(f"log: {args.events:,} events in {records:,} records, {wal_mb:.0f} MB, "
                  f"~{columns} columns a row (written in {time.perf_counter() - t0:.1f}s); "
                  f"extensions: {USING_EXTENSIONS}; ClickHouse {version} at {host}:{http_port}; "
                  f"batch {args.max_rows:,} rows, compression {sink.compression}, "
                  f"{args.lanes} lane(s)", flush=True)
            # Leftovers of earlier runs: merges still running cost the server CPU
            # this run would be charged for.
            leftover = client.execute(
                "SELECT count(), sum(rows) FROM system.parts WHERE active "
                "AND database NOT IN ('system', 'default')")[0]
            merging = running_merges(client)
            waited = settle(client, 60.0) if args.settle else 0.0
            print(f"before: {leftover[0]} active parts ({leftover[1] or 0:,} rows) in other "
                  f"databases, {merging} merges running"
                  + (f", waited {waited:.1f}s for them" if merging and args.settle else ""),
                  flush=True)
            res = drain(data_dir, args.events, sink, policies, args.timeout, watcher)
        after = parts_summary(client, database)
        stored, distinct = client.execute(
            f"SELECT count(), uniqExact(eid) FROM {database}.events FINAL")[0]
    finally:
        if not args.keep:
            client.execute(f"DROP DATABASE IF EXISTS {database}")
        client.disconnect()
        watcher.client.disconnect()

    sizes = sink.sizes
    caught_s, caught_rows = res["caught_up"]
    print(f"drained {args.events:,} events in {res['seconds']:.2f}s; sustained "
          f"{caught_rows / caught_s:,.0f} events/s ({caught_rows:,} in {caught_s:.2f}s, before "
          f"the last partial batch waited for its age trigger); whole drain "
          f"{args.events / res['seconds']:,.0f} events/s")
    print(f"shipper CPU {res['cpu']:.2f}s ({res['cpu'] / args.events * 1e6:.2f} us/event, "
          f"{res['cpu'] / res['seconds']:.2f} cores)")
    if res["server_cpu"] is not None:
        user, system = res["server_cpu"]
        total = user + system
        print(f"server CPU {total:.2f}s ({total / args.events * 1e6:.2f} us/event: user "
              f"{user / args.events * 1e6:.2f}, sys {system / args.events * 1e6:.2f}; "
              f"{total / res['seconds']:.2f} cores; includes merges)")
    print(f"steal {res['steal']:.2f}s, other processes about {res['others']:.2f}s CPU; merges of "
          f"this run's parts during the drain: {len(watcher.seen)} (at most "
          f"{watcher.most_at_once} at once), of other databases: {len(watcher.others)}; "
          f"after the drain: {after}")
    if sizes:
        print(f"batches: {len(sizes):,}, rows per batch avg {sum(sizes) / len(sizes):,.0f}, "
              f"max {max(sizes):,}; sink.write {sink.write_s:.2f}s of the {res['seconds']:.2f}s "
              f"(the rest: reading the log into column buffers), HTTP inserts (compress, send, "
              f"server; summed over lanes) {sink.insert_s:.2f}s")
    ok = stored == distinct == args.events
    print(f"ClickHouse FINAL: {stored:,} rows, {distinct:,} distinct eids -> "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
