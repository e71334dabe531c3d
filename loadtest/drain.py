"""Shipper drain benchmark: how fast a backlog in the log reaches DuckDB.

Run: .venv/bin/python loadtest/drain.py [--events 1000000] [--workers 2] [--single 0.1]
(on the shared 2-core machine: `flock /tmp/tracker-bench.lock .venv/bin/python loadtest/drain.py`)

1. Writes `--events` events rows with WalWriter into `--workers` worker
   directories of a temporary DataDirectory. The rows come from EventBuilder
   (a few thousand distinct page views with URLs, UTM tags, referrers, user
   agents, params), each written with a fresh eid and created_at, as records of
   1 row (`--single` of the events) and of 100 rows (the rest), interleaved as
   a worker under mixed traffic writes them.
2. Starts the real Shipper with a DuckDBSink and the default policies, and
   times until every event is delivered (the runner's committed positions
   cover everything appended).
3. Prints events/s, the batches the sink received, CPU seconds of the process
   during the drain, and checks the DuckDB file holds every eid exactly once.

`--profile FILE` writes a cProfile of the sink thread (pstats format).
"""

from __future__ import annotations

import argparse
import cProfile
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson

from tracker._fast import USING_EXTENSIONS, uuid7
from tracker.events.builder import BuilderConfig, EventBuilder
from tracker.events.context import RequestContext
from tracker.model.tables import EVENTS
from tracker.shipper import BatchPolicy, Shipper, default_policies
from tracker.sinks.duckdb import DuckDBSink
from tracker.wal import WalWriter

START_MS = 1_767_000_000_000
TEMPLATES = 4000

_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
)
_REFERRERS = ("https://www.google.com/", "https://news.ycombinator.com/", None,
              "https://duckduckgo.com/?q=shoes")
_NAMES = ("page_view", "click", "scroll", "add_to_cart", "signup")


def template_rows(n: int, rnd: random.Random) -> list[dict]:
    """n realistic events rows, as the worker's EventBuilder writes them to the log."""
    builder = EventBuilder(BuilderConfig.from_secret(b"drain-benchmark-secret" * 2))
    rows = []
    for i in range(n):
        fields = {
            "ename": rnd.choice(_NAMES),
            "etyp": "track",
            "url": f"https://shop.example/p/{rnd.randrange(500)}?utm_source=newsletter"
                   f"&utm_medium=email&utm_campaign=spring{rnd.randrange(5)}",
            "referrer": rnd.choice(_REFERRERS),
            "oid": f"site-{rnd.randrange(3)}",
            "tz": "Europe/Berlin",
            "vp_w": 1920, "vp_h": 1080,
            "score": rnd.randrange(100),
            "ts": START_MS - rnd.randrange(5000),
            "params": {"depth": rnd.randrange(100), "plan": "pro"},
        }
        ctx = RequestContext(
            client_ip=f"203.0.{rnd.randrange(256)}.{rnd.randrange(256)}",
            user_agent=rnd.choice(_AGENTS), accept_language="de-DE,de;q=0.9,en;q=0.8",
            host="shop.example", tls=True, now_ms=START_MS, cookie_consent=7,
            cookie_vid=str(uuid7()) if i % 3 else None,
        )
        row, _ = builder.build(fields, ctx)
        rows.append(row)
    return rows


def write_log(
    data_dir: Path, events: int, workers: int, single: float, seed: int
) -> tuple[int, int]:
    """Write the backlog; returns (records, average populated columns per row)."""
    rnd = random.Random(seed)
    templates = template_rows(TEMPLATES, rnd)
    columns = sum(len(r) for r in templates) // len(templates)
    writers = [WalWriter(data_dir / "wal" / f"w{w}", w, "never") for w in range(workers)]
    for w in writers:
        w.open()
    records = 0
    written = 0
    ms = START_MS
    while written < events:
        n = 1 if rnd.random() < single / (single + (1 - single) / 100) else 100
        n = min(n, events - written)
        rows = []
        for _ in range(n):
            row = dict(templates[rnd.randrange(TEMPLATES)])
            row["eid"] = uuid7()
            row["created_at"] = ms
            rows.append(row)
        ms += 1
        writers[records % workers].append(EVENTS.table_id, n, orjson.dumps(rows))
        records += 1
        written += n
    for w in writers:
        w.close()
    return records, columns


def rss_mb() -> float:
    """Resident memory of this process now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    """CPU time of this process so far, user and system, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CountingSink(DuckDBSink):
    """The DuckDB sink, also noting the size of each batch and when its write ended."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: list[int] = []
        self.ends: list[float] = []
        self.cpu: list[float] = []

    def write(self, batch) -> None:
        super().write(batch)
        self.sizes.append(batch.num_rows)
        self.ends.append(time.perf_counter())
        self.cpu.append(cpu_seconds())


class ProfiledSink(CountingSink):
    """Profiles the sink's thread from its `open` (called on that thread) to its `close`."""

    def __init__(self, *args, profile: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._profile_path = profile
        self._profiler: cProfile.Profile | None = None

    def open(self) -> None:
        if self._profiler is None:
            self._profiler = cProfile.Profile()
            self._profiler.enable()
        super().open()

    def close(self) -> None:
        super().close()
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(str(self._profile_path))


def drain(data_dir: Path, events: int, policies: dict[str, BatchPolicy],
          profile: Path | None, timeout: float, threads: int | None) -> dict:
    path = data_dir / "tracker.duckdb"
    sink = (ProfiledSink("duckdb", path, profile=profile, threads=threads) if profile
            else CountingSink("duckdb", path, threads=threads))
    shipper = Shipper(data_dir, [(sink, policies)])
    runner = shipper.runners[0]
    rss0 = rss_mb()
    rss_max = rss0
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    shipper.start()
    deadline = t0 + timeout
    while True:  # done when the committed positions cover every appended event
        committed = sum(p["events"] for p in runner.snapshot()["cursor"].values())
        rss_max = max(rss_max, rss_mb())
        if committed >= events:
            break
        if time.perf_counter() > deadline:
            raise SystemExit(f"not drained after {timeout}s: {committed:,} of {events:,}")
        time.sleep(0.01)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    shipper.stop(30)
    con = duckdb.connect(str(path), read_only=True)
    try:
        stored, distinct = con.execute(
            "SELECT count(*), count(DISTINCT eid) FROM events").fetchone()
    finally:
        con.close()
    # Sustained: up to the end of the last write before the final partial batch,
    # which waits for its age trigger (MaxBatchTime) once the backlog is read.
    if len(sink.sizes) > 1:
        sustained = (sum(sink.sizes[:-1]), sink.ends[-2] - t0)
        sustained_cpu = (sum(sink.sizes[:-1]), sink.cpu[-2] - cpu0)
    else:
        sustained = (events, seconds)
        sustained_cpu = (events, cpu)
    return {"seconds": seconds, "sustained": sustained, "sustained_cpu": sustained_cpu,
            "cpu": cpu, "rss": (rss0, rss_max), "stored": stored,
            "distinct": distinct, "sizes": sink.sizes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--single", type=float, default=0.1,
                    help="share of events written as 1-row records (the rest: 100-row)")
    ap.add_argument("--max-rows", type=int, help="MaxBatchSize for events (default: policy)")
    ap.add_argument("--strategy", help="batching strategy for events (default: policy)")
    ap.add_argument("--duckdb-threads", type=int, help="DuckDB threads (default: the sink's)")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the sink thread here")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=110.0)
    args = ap.parse_args()

    policies = default_policies(store="duckdb")  # as the config makes them for a DuckDB store
    events_policy = policies["events"]
    if args.max_rows or args.strategy:
        events_policy = BatchPolicy(args.strategy or events_policy.strategy,
                                    max_rows=args.max_rows or events_policy.max_rows,
                                    max_age_s=events_policy.max_age_s)
        policies["events"] = events_policy
    with tempfile.TemporaryDirectory(prefix="tracker-drain-") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        records, columns = write_log(data_dir, args.events, args.workers, args.single, args.seed)
        wal_mb = sum(p.stat().st_size for p in (data_dir / "wal").rglob("*.seg")) / (1 << 20)
        print(f"log: {args.events:,} events in {records:,} records over {args.workers} "
              f"worker dirs, {wal_mb:.0f} MB, ~{columns} columns a row "
              f"(written in {time.perf_counter() - t0:.1f}s); extensions: {USING_EXTENSIONS}; "
              f"events policy: {events_policy.strategy} {events_policy.max_rows} rows / "
              f"{events_policy.max_age_s}s", flush=True)
        res = drain(data_dir, args.events, policies, args.profile, args.timeout,
                    args.duckdb_threads)
    sizes = res["sizes"]
    rows, caught_s = res["sustained"]
    print(f"drained {args.events:,} events in {res['seconds']:.2f}s; sustained "
          f"{rows / caught_s:,.0f} events/s ({rows:,} in {caught_s:.2f}s, before the last "
          f"partial batch waited for its age trigger); whole drain "
          f"{args.events / res['seconds']:,.0f} events/s")
    cpu_rows, cpu_s = res["sustained_cpu"]
    rss0, rss_max = res["rss"]
    print(f"CPU {cpu_s / cpu_rows * 1e6:.2f} us/event ({cpu_s / caught_s:.2f} cores) while "
          f"catching up; {res['cpu'] / args.events * 1e6:.2f} us/event over the whole drain; "
          f"RSS {rss0:,.0f} MB before the shipper, at most {rss_max:,.0f} MB while it drained")
    if sizes:
        print(f"batches: {len(sizes):,}, rows per batch avg {sum(sizes) / len(sizes):,.0f}, "
              f"min {min(sizes):,}, max {max(sizes):,}")
    ok = res["stored"] == res["distinct"] == args.events
    print(f"DuckDB: {res['stored']:,} rows, {res['distinct']:,} distinct eids -> "
          f"{'ok' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
