"""Measures DuckDB sink insert throughput: rows/s for 10k-row events batches.

Run: .venv/bin/python bench/duckdb_sink_insert.py [--existing 1000000] [--batches 36]

Compares, into an events table already holding --existing rows:
  plain    INSERT ... SELECT with the casts, no deduplication at all
  sink     DuckDBSink.write: in-batch dedup + anti-join over DEDUP_WINDOW
  pk       a PRIMARY KEY (eid) table with INSERT OR IGNORE (the rejected design)
Existing rows are spread over the 30 days before the new ones ("spread"), or all
within the dedup window ("recent", the worst case for the zone-map pruning).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from tracker.model.tables import EVENTS, Table
from tracker.sinks.duckdb import (
    CHECKPOINT_ROWS,
    WAL_CHECKPOINT_LIMIT,
    DuckDBSink,
    new_rows_query,
)
from tracker.sinks.duckdb_schema import load_schema

DAY_MS = 86_400_000
NOW_MS = 1_767_000_000_000


class ArrowBatch:
    """A Batch over a ready Arrow table (the benchmark builds columns directly)."""

    def __init__(self, table: Table, arrow: pa.Table) -> None:
        self.table = table
        self._arrow = arrow

    @property
    def num_rows(self) -> int:
        return self._arrow.num_rows

    @property
    def nbytes(self) -> int:
        return self._arrow.nbytes

    def to_arrow(self) -> pa.Table:
        return self._arrow


def uuid7(ms: int, rnd: random.Random) -> str:
    h = f"{ms:012x}{rnd.getrandbits(80):020x}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{'89ab'[rnd.getrandbits(2)]}{h[17:20]}-{h[20:32]}"


def events_arrow(n: int, start_ms: int, span_ms: int, rnd: random.Random) -> pa.Table:
    """n events with ~29 populated columns, created_at increasing over [start, start+span)."""
    ts = [start_ms + i * span_ms // n for i in range(n)]
    vids = [uuid7(start_ms, rnd) for _ in range(max(1, n // 20))]
    pages = [f"https://Example.com/p/{i}?utm_source=x" for i in range(200)]
    cols = {
        "eid": [uuid7(t, rnd) for t in ts],
        "created_at": ts,
        "client_ts": [t - 40 for t in ts],
        "vid": [vids[rnd.randrange(len(vids))] for _ in ts],
        "sid": [uuid7(t, rnd) for t in ts],
        "oid": ["site-1"] * n,
        "ename": [rnd.choice(["page_view", "click", "signup"]) for _ in ts],
        "etyp": ["track"] * n,
        "url": [rnd.choice(pages) for _ in ts],
        "host": ["Example.com"] * n,
        "referrer": [
            rnd.choice(["https://google.com/", None, "https://news.ycombinator.com/"]) for _ in ts
        ],
        "source": ["newsletter"] * n,
        "medium": ["email"] * n,
        "campaign": ["spring"] * n,
        "tz": ["Europe/Berlin"] * n,
        "lang": ["de-DE"] * n,
        "device": ["desktop"] * n,
        "os": ["Linux"] * n,
        "browser": ["Firefox"] * n,
        "vp_w": [1920] * n,
        "vp_h": [1080] * n,
        "bot": [False] * n,
        "iphash": [f"{rnd.getrandbits(64):016x}" for _ in ts],
        "country": ["DE"] * n,
        "region": ["DE-BE"] * n,
        "city": ["Berlin"] * n,
        "lat": [52.52] * n,
        "lon": [13.40] * n,
        "cflags": [7] * n,
        "params": ['{"plan":"pro","n":3}'] * n,
    }
    arrays, names = [], []
    for col in EVENTS.columns:
        values = cols.get(col.name, [None] * n)
        kind_type = {
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "ts": pa.timestamp("ms"),
        }.get(col.kind.value, pa.string())
        arrays.append(pa.array(values, kind_type))
        names.append(col.name)
    return pa.Table.from_arrays(arrays, names=names)


def preload(
    con: duckdb.DuckDBPyConnection, existing: int, span_ms: int, rnd: random.Random, ignore: bool
) -> None:
    chunk = 100_000
    start = NOW_MS - span_ms
    for i in range(0, existing, chunk):
        part = events_arrow(
            chunk, start + span_ms * i // existing, span_ms * chunk // existing, rnd
        )
        con.register("pre", part)
        verb = "INSERT OR IGNORE INTO" if ignore else "INSERT INTO"
        casts = new_rows_query(EVENTS, "pre").split(" WHERE NOT EXISTS")[0]
        con.execute(f"{verb} events {casts}")
        con.unregister("pre")
    con.execute("CHECKPOINT")


def run(mode: str, layout: str, existing: int, batches: int, threads: int) -> float:
    """Rows/s over `batches` 10k-row writes, checkpoints included (the sink's policy)."""
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        con = duckdb.connect(str(path), config={"threads": threads})
        if mode == "pk":
            ddl = (Path(__file__).parent.parent / "schema/duckdb/001_events.sql").read_text()
            con.execute(ddl.replace("eid        UUID      NOT NULL", "eid UUID PRIMARY KEY"))
        else:
            load_schema(con)
        span = 30 * DAY_MS if layout == "spread" else DAY_MS
        preload(con, existing, span, rnd, ignore=mode == "pk")
        con.close()
        work = [events_arrow(10_000, NOW_MS + b * 20_000, 20_000, rnd) for b in range(batches)]
        if mode == "sink":
            sink = DuckDBSink("bench", path, threads=threads)
            sink.open()
            t0 = time.perf_counter()
            for arrow in work:
                sink.write(ArrowBatch(EVENTS, arrow))
            sink.close()  # its final checkpoint counts
            elapsed = time.perf_counter() - t0
            con = duckdb.connect(str(path))
        else:
            select = new_rows_query(EVENTS, "b").split(" WHERE NOT EXISTS")[0]
            verb = "INSERT OR IGNORE INTO" if mode == "pk" else "INSERT INTO"
            con = duckdb.connect(str(path), config={"threads": threads})
            con.execute(f"SET checkpoint_threshold = '{WAL_CHECKPOINT_LIMIT}'")
            t0 = time.perf_counter()
            pending = 0
            for arrow in work:
                con.register("b", arrow)
                con.execute(f"{verb} events {select}")
                con.unregister("b")
                pending += arrow.num_rows
                if pending >= CHECKPOINT_ROWS:
                    con.execute("CHECKPOINT")
                    pending = 0
            con.execute("CHECKPOINT")
            elapsed = time.perf_counter() - t0
        total = con.execute("SELECT count(*) FROM events").fetchone()[0]
        assert total == existing + batches * 10_000, total
        con.close()
        return batches * 10_000 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--modes", default="plain,sink,pk")
    parser.add_argument("--layouts", default="spread,recent")
    args = parser.parse_args()
    for layout in args.layouts.split(","):
        for mode in args.modes.split(","):
            rates = sorted(
                run(mode, layout, args.existing, args.batches, args.threads)
                for _ in range(args.repeat)
            )
            shown = " ".join(f"{r:,.0f}" for r in rates)
            print(
                f"{layout:7s} {mode:6s} median {rates[len(rates) // 2]:10,.0f} rows/s  ({shown})",
                flush=True,
            )


if __name__ == "__main__":
    main()
