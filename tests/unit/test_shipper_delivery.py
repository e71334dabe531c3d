"""The shipper end to end: real WalWriters, real DuckDB sinks, in tmp_path.

Sinks that fail or stall are thin wrappers around a real DuckDBSink that
inject the failure (test doubles for failure injection, not mocks).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest

from tracker.model.tables import EVENTS, PAYMENTS
from tracker.shipper import BatchPolicy, Shipper
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.sinks.base import PermanentError, RetryableError
from tracker.sinks.duckdb import DuckDBSink
from tracker.wal import Position, WalWriter, segment_files
from tracker.wal import segments as segments_module
from tracker.wal.segments import spare_files

BASE_MS = 1_700_000_000_000
FAST = {
    "events": BatchPolicy("hybrid", max_rows=50, max_age_s=0.02),
    "payments": BatchPolicy("immediate"),
    "agreements": BatchPolicy("hybrid", max_rows=50, max_age_s=0.02),
}


def event(i: int, **extra) -> dict:
    return {"eid": str(uuid.UUID(int=i + 1)), "created_at": BASE_MS + i, "bot": False,
            "ename": "view", **extra}


class Log:
    """One worker's log in the test's data directory."""

    def __init__(self, data_dir: Path, worker: int, segment_bytes: int = 64 << 20) -> None:
        self.writer = WalWriter(data_dir / "wal" / f"w{worker}", worker, "never",
                                segment_bytes=segment_bytes)
        self.writer.open()

    def write(self, ids, per_record: int = 5, **extra) -> None:
        ids = list(ids)
        for k in range(0, len(ids), per_record):
            rows = [event(i, **extra) for i in ids[k : k + per_record]]
            self.writer.append(EVENTS.table_id, len(rows), orjson.dumps(rows))

    def close(self) -> None:
        self.writer.close()


def wait_for(cond, what: str, timeout: float = 60.0) -> None:
    """Poll `cond` (a bounded wait, not a timing assertion)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.01)


def sink_state(shipper: Shipper, name: str) -> dict:
    return shipper.state()["sinks"][name]


def counts(path: Path) -> tuple[int, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*), count(DISTINCT eid) FROM events").fetchone()
    finally:
        con.close()


def make_shipper(data_dir: Path, sinks, **kw) -> Shipper:
    kw.setdefault("retry_base_s", 0.01)
    kw.setdefault("retry_max_s", 0.05)
    kw.setdefault("poll_interval", 0.005)
    kw.setdefault("retire_interval", 3600)
    return Shipper(data_dir, [(s, FAST) for s in sinks], **kw)


class FlakySink(DuckDBSink):
    """Raises RetryableError while `down` is set."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, path)
        self.down = threading.Event()
        self.failed_writes = 0

    def write(self, batch) -> None:
        if self.down.is_set():
            self.failed_writes += 1
            raise RetryableError("store unreachable")
        super().write(batch)


class PoisonSink(DuckDBSink):
    """Refuses, as permanently invalid, any batch holding a row named "poison"."""

    def write(self, batch) -> None:
        if any(r.get("ename") == "poison" for r in batch.rows()):
            raise PermanentError("value out of range")
        super().write(batch)


class GatedSink(DuckDBSink):
    """Each write waits until `gate` is open."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, path)
        self.gate = threading.Event()

    def write(self, batch) -> None:
        while not self.gate.wait(0.01):
            pass
        super().write(batch)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_every_row_is_delivered_exactly_once_from_two_workers(data_dir):
    w0, w1 = Log(data_dir, 0, segment_bytes=4000), Log(data_dir, 1)
    w0.write(range(0, 300))
    w1.write(range(1000, 1200), per_record=7)
    db = data_dir / "duck.db"
    shipper = make_shipper(data_dir, [DuckDBSink("duck", db)])
    shipper.start()
    w0.write(range(300, 400))  # appended while the shipper runs
    wait_for(lambda: sink_state(shipper, "duck")["lag_events"] == 0
             and sum(shipper.appended().values()) == 600, "delivery")
    assert shipper.stop(timeout=10)
    w0.close()
    w1.close()

    assert counts(db) == (600, 600)
    saved = CursorStore(cursor_path(data_dir, "duck")).load()
    assert saved["w0"].events == 400
    assert saved["w1"].events == 200
    state = orjson.loads((data_dir / "run" / "shipper.json").read_bytes())
    snap = state["sinks"]["duck"]
    assert snap["state"] == "ok"
    assert snap["delivered"]["events"] == 600
    assert snap["lag_events"] == 0
    assert snap["dead_letters"] == 0
    b = state["batching"]
    assert b["total_items"] == 600
    assert b["total_batches"] == snap["batches"]["events"] >= 600 // 50
    assert b["failed_batches"] == 0
    assert b["batch_success_rate"] == 1.0
    assert b["avg_batch_size"] == pytest.approx(600 / b["total_batches"], abs=0.01)
    assert b["enabled"] is True
    assert b["queued_items"] == 0
    assert set(b) >= {"avg_flush_latency_ms", "memory_usage_mb", "events_per_second"}


def test_stop_without_flushing_loses_nothing_and_replays_are_absorbed(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 200))
    db = data_dir / "duck.db"
    slow = {"events": BatchPolicy("time", max_age_s=3600)}  # never flushes by itself
    shipper = Shipper(data_dir, [(DuckDBSink("duck", db), slow)], poll_interval=0.005)
    shipper.start()
    wait_for(lambda: sink_state(shipper, "duck")["queued_rows"] == 200, "rows buffered")
    assert not shipper.stop(timeout=5, drain=False)  # a crash, as far as delivery goes
    assert counts(db) == (0, 0)
    assert CursorStore(cursor_path(data_dir, "duck")).load() == {}

    log0.write(range(200, 300))
    shipper = make_shipper(data_dir, [DuckDBSink("duck", db)])
    shipper.start()
    assert shipper.stop(timeout=30)  # shutdown delivers everything the log holds
    assert counts(db) == (300, 300)
    assert CursorStore(cursor_path(data_dir, "duck")).load()["w0"].events == 300

    # Lose the cursor (as if the last saves never reached the disk): all is replayed.
    cursor_path(data_dir, "duck").unlink()
    shipper = make_shipper(data_dir, [DuckDBSink("duck", db)])
    shipper.start()
    assert shipper.stop(timeout=30)
    assert counts(db) == (300, 300)
    log0.close()


def test_a_failing_sink_retries_behind_the_breaker_and_recovers(data_dir):
    log0 = Log(data_dir, 0)
    sink = FlakySink("flaky", data_dir / "flaky.db")
    sink.down.set()
    shipper = make_shipper(data_dir, [sink])
    shipper.start()
    log0.write(range(0, 120))
    wait_for(lambda: sink_state(shipper, "flaky")["state"] == "open", "breaker open")
    snap = sink_state(shipper, "flaky")
    assert snap["lag_events"] == 120
    assert snap["last_error"] == "RetryableError: store unreachable"
    assert snap["failures"]["events"] >= 5
    # the failing batch and the next one, full; the rest waits in the log
    assert snap["queued_rows"] == 100
    assert shipper.state()["batching"]["failed_batches"] >= 5

    sink.down.clear()
    wait_for(lambda: sink_state(shipper, "flaky")["lag_events"] == 0, "recovery")
    assert sink_state(shipper, "flaky")["state"] == "ok"
    assert shipper.stop(timeout=10)
    assert counts(data_dir / "flaky.db") == (120, 120)
    log0.close()


def test_a_sink_that_cannot_open_keeps_everything_in_the_log(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 20))
    blocked = data_dir / "not-a-dir"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the sink wants a directory")
    shipper = make_shipper(data_dir, [DuckDBSink("duck", blocked / "duck.db")])
    shipper.start()
    wait_for(lambda: sink_state(shipper, "duck")["state"] == "open", "breaker open")
    assert sink_state(shipper, "duck")["lag_events"] == 20
    assert not shipper.stop(timeout=0.2)
    assert CursorStore(cursor_path(data_dir, "duck")).load() == {}
    log0.close()


def test_a_poison_row_goes_to_the_dead_letters_and_the_rest_is_delivered(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 40))
    log0.write([40], ename="poison")
    log0.write(range(41, 80))
    log0.write([80], ename="poison")
    shipper = make_shipper(data_dir, [PoisonSink("duck", data_dir / "duck.db")])
    shipper.start()
    assert shipper.stop(timeout=30)
    log0.close()

    assert counts(data_dir / "duck.db") == (79, 79)
    lines = [orjson.loads(x) for x in
             (data_dir / "deadletter" / "duck.jsonl").read_bytes().splitlines()]
    assert sorted(x["row"]["eid"] for x in lines) == [str(uuid.UUID(int=41)),
                                                      str(uuid.UUID(int=81))]
    assert {x["table"] for x in lines} == {"events"}
    assert {x["sink"] for x in lines} == {"duck"}
    assert "value out of range" in lines[0]["error"]
    state = orjson.loads((data_dir / "run" / "shipper.json").read_bytes())["sinks"]["duck"]
    assert state["dead_letters"] == 2
    assert state["delivered"]["events"] == 79
    assert CursorStore(cursor_path(data_dir, "duck")).load()["w0"].events == 81


def test_a_slow_sink_does_not_delay_another(data_dir):
    log0 = Log(data_dir, 0)
    slow = GatedSink("slow", data_dir / "slow.db")
    shipper = make_shipper(data_dir, [slow, DuckDBSink("fast", data_dir / "fast.db")])
    shipper.start()
    log0.write(range(0, 150))
    wait_for(lambda: sink_state(shipper, "fast")["lag_events"] == 0
             and sink_state(shipper, "fast")["delivered"]["events"] == 150, "fast delivery")
    snap = sink_state(shipper, "slow")
    assert snap["delivered"]["events"] == 0
    assert snap["lag_events"] == 150
    slow.gate.set()
    wait_for(lambda: sink_state(shipper, "slow")["lag_events"] == 0, "slow delivery")
    assert shipper.stop(timeout=10)
    assert counts(data_dir / "slow.db") == (150, 150)
    assert counts(data_dir / "fast.db") == (150, 150)
    log0.close()


def test_segments_are_retired_only_after_every_sink_consumed_them(data_dir):
    log0 = Log(data_dir, 0, segment_bytes=1500)
    wal0 = data_dir / "wal" / "w0"
    gated = GatedSink("gated", data_dir / "gated.db")
    gated.gate.set()
    shipper = make_shipper(data_dir, [gated, DuckDBSink("free", data_dir / "free.db")])
    shipper.start()
    log0.write(range(0, 100))

    def saved_events(name: str) -> int:
        runner = next(r for r in shipper.runners if r.name == name)
        pos = runner.saved_positions().get("w0")
        return pos.events if pos else -1

    wait_for(lambda: saved_events("gated") == 100 and saved_events("free") == 100, "phase 1")
    before = [seq for seq, _ in segment_files(wal0)]
    assert len(before) > 3
    assert shipper.retire() > 0
    left = [seq for seq, _ in segment_files(wal0)]
    assert left[0] == min(r.saved_positions()["w0"].segment for r in shipper.runners)
    assert left[-1] == before[-1]  # never the newest

    gated.gate.clear()
    log0.write(range(100, 200))
    wait_for(lambda: saved_events("free") == 200, "free sink caught up")
    held = next(r for r in shipper.runners if r.name == "gated").saved_positions()["w0"]
    shipper.retire()
    left = [seq for seq, _ in segment_files(wal0)]
    assert left[0] <= held.segment  # everything the gated sink still needs is there
    assert len(left) > 3

    gated.gate.set()
    wait_for(lambda: saved_events("gated") == 200, "gated sink caught up")
    shipper.retire()
    assert len(segment_files(wal0)) < len(left)
    assert shipper.stop(timeout=10)
    assert counts(data_dir / "gated.db") == (200, 200)
    assert counts(data_dir / "free.db") == (200, 200)
    log0.close()


def test_retired_segments_wait_as_spares_then_are_deleted(data_dir, monkeypatch):
    """Delivered segments kept for reuse hold delivered events: the retire pass
    deletes the ones that waited past SPARE_SECONDS, and the log stays whole."""
    log0 = Log(data_dir, 0, segment_bytes=1500)
    wal0 = data_dir / "wal" / "w0"
    shipper = make_shipper(data_dir, [DuckDBSink("db", data_dir / "db.db")])
    shipper.start()
    log0.write(range(0, 100))
    runner = shipper.runners[0]
    wait_for(lambda: (runner.saved_positions().get("w0") or Position(0, 0, 0)).events == 100,
             "delivered")
    assert shipper.retire() > 0
    assert len(spare_files(wal0)) == 2
    log0.write(range(100, 200))  # its next segments are the spares, written over
    wait_for(lambda: runner.saved_positions()["w0"].events == 200, "delivered again")
    shipper.retire()
    assert spare_files(wal0)  # retired again, waiting
    monkeypatch.setattr(segments_module, "SPARE_SECONDS", -1.0)
    shipper.retire()
    assert spare_files(wal0) == []
    assert shipper.stop(timeout=10)
    assert counts(data_dir / "db.db") == (200, 200)
    log0.close()


@pytest.mark.parametrize("strategy", ["hybrid", "time"])
def test_reading_pauses_while_a_sink_is_down_so_memory_stays_bounded(data_dir, strategy):
    from tracker.shipper.runner import MIN_BUFFER_ROWS

    log0 = Log(data_dir, 0)
    per_record = 10
    total = MIN_BUFFER_ROWS * 3
    log0.write(range(total), per_record=per_record)
    sink = FlakySink("flaky", data_dir / "flaky.db")
    sink.down.set()
    policy = BatchPolicy(strategy, max_rows=50, max_age_s=0.02)
    shipper = Shipper(data_dir, [(sink, {"events": policy})], poll_interval=0.005,
                      retry_base_s=0.01, retry_max_s=0.05, retire_interval=3600)
    shipper.start()
    wait_for(lambda: sink.failed_writes >= 3, "retries")
    time.sleep(0.2)  # give reading a chance to (wrongly) go on
    queued = sink_state(shipper, "flaky")["queued_rows"]
    if strategy == "hybrid":  # the failing batch, and the next one up to its size trigger
        assert queued <= 2 * (50 + per_record)
    else:  # no size trigger: the failing batch, and MIN_BUFFER_ROWS more at most
        assert MIN_BUFFER_ROWS <= queued <= 2 * (MIN_BUFFER_ROWS + per_record)
    assert sink_state(shipper, "flaky")["lag_events"] == total
    sink.down.clear()
    assert shipper.stop(timeout=60)
    assert counts(data_dir / "flaky.db") == (total, total)
    log0.close()


def test_the_cursor_never_passes_a_row_that_is_not_stored(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 5))  # events: held back by a long time policy
    payment = {"pid": str(uuid.UUID(int=999)), "created_at": BASE_MS, "amt": "12.50"}
    log0.writer.append(PAYMENTS.table_id, 1, orjson.dumps([payment]))
    policies = {"events": BatchPolicy("time", max_age_s=3600),
                "payments": BatchPolicy("immediate")}
    shipper = Shipper(data_dir, [(DuckDBSink("duck", data_dir / "duck.db"), policies)],
                      poll_interval=0.005)
    shipper.start()
    wait_for(lambda: sink_state(shipper, "duck")["delivered"]["payments"] == 1, "payment")
    time.sleep(0.2)  # several passes and cursor saves could happen here
    snap = sink_state(shipper, "duck")
    assert snap["cursor"] == {}  # the events record before the payment is not stored yet
    assert snap["lag_events"] == 6
    assert shipper.runners[0].saved_positions() == {}
    assert shipper.stop(timeout=30)
    assert CursorStore(cursor_path(data_dir, "duck")).load()["w0"].events == 6
    assert counts(data_dir / "duck.db") == (5, 5)
    log0.close()


def test_rows_the_buffer_refuses_and_unknown_records_are_dead_lettered(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 10))
    bad = [event(10, vp_w="wide"), event(11), "not a row"]
    log0.writer.append(EVENTS.table_id, len(bad), orjson.dumps(bad))
    log0.writer.append(42, 1, orjson.dumps([{"x": 1}]))  # a table this version does not know
    log0.write(range(12, 20))
    shipper = make_shipper(data_dir, [DuckDBSink("duck", data_dir / "duck.db")])
    shipper.start()
    assert shipper.stop(timeout=30)
    log0.close()

    assert counts(data_dir / "duck.db") == (19, 19)
    lines = [orjson.loads(x) for x in
             (data_dir / "deadletter" / "duck.jsonl").read_bytes().splitlines()]
    assert len(lines) == 3
    assert lines[0]["row"]["eid"] == str(uuid.UUID(int=11))
    assert lines[0]["error"].startswith("vp_w")
    assert lines[1]["row"] == "not a row"
    assert lines[2]["table"] == "table#42"
    assert CursorStore(cursor_path(data_dir, "duck")).load()["w0"].events == 22


class CheckingSink(DuckDBSink):
    """Checks, before each write, that the runner's committed cursor covers only
    rows already stored; notes batch sizes and the threads that call it."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, path)
        self.runner = None
        self.stored = 0
        self.violations: list[tuple[int, int]] = []
        self.sizes: list[tuple[str, int]] = []
        self.threads: set[int] = set()

    def open(self) -> None:
        self.threads.add(threading.get_ident())
        super().open()

    def write(self, batch) -> None:
        self.threads.add(threading.get_ident())
        committed = sum(p["events"] for p in self.runner.snapshot()["cursor"].values())
        if committed > self.stored:
            self.violations.append((committed, self.stored))
        time.sleep(0.002)  # the runner reads ahead meanwhile
        super().write(batch)
        self.stored += batch.num_rows
        self.sizes.append((batch.table.name, batch.num_rows))

    def close(self) -> None:
        self.threads.add(threading.get_ident())
        super().close()


def test_reading_ahead_of_writes_keeps_batch_sizes_and_the_cursor_honest(data_dir, monkeypatch):
    from tracker.shipper import runner as runner_module

    monkeypatch.setattr(runner_module, "READ_MAX_RECORDS", 7)  # many small chunks
    log0 = Log(data_dir, 0)
    total = 0
    for k in range(300):
        log0.write(range(k * 7, k * 7 + 7), per_record=7)
        total += 7
        if k % 5 == 0:
            pay = {"pid": str(uuid.UUID(int=10_000 + k)), "created_at": BASE_MS, "amt": "1.5"}
            log0.writer.append(PAYMENTS.table_id, 1, orjson.dumps([pay]))
            total += 1
    sink = CheckingSink("check", data_dir / "check.db")
    shipper = make_shipper(data_dir, [sink])
    sink.runner = shipper.runners[0]
    shipper.start()
    wait_for(lambda: sink_state(shipper, "check")["lag_events"] == 0
             and sink.stored == total, "delivery")
    assert shipper.stop(timeout=30)
    log0.close()

    assert sink.violations == []
    events = [n for table, n in sink.sizes if table == "events"]
    assert max(events) == 50  # the batch size, though records hold 7 rows
    assert sum(events) == 2100 and len(events) < 2100 // 40
    assert len(sink.threads) == 1  # open, every write and close: the sink's own thread
    assert sink.threads != {threading.get_ident()}
    assert CursorStore(cursor_path(data_dir, "check")).load()["w0"].events == total
    assert counts(data_dir / "check.db") == (2100, 2100)


def test_undecodable_records_are_dead_lettered_whole(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 5))
    log0.writer.append(EVENTS.table_id, 2, b'[{"eid": "x",')  # cut short
    log0.writer.append(EVENTS.table_id, 1, b'{"eid": "not in an array"}')
    log0.write(range(5, 10))
    shipper = make_shipper(data_dir, [DuckDBSink("duck", data_dir / "duck.db")])
    shipper.start()
    assert shipper.stop(timeout=30)
    log0.close()

    assert counts(data_dir / "duck.db") == (10, 10)
    lines = [orjson.loads(x) for x in
             (data_dir / "deadletter" / "duck.jsonl").read_bytes().splitlines()]
    assert [(x["error"], x["row"]) for x in lines] == [
        ("undecodable payload", '[{"eid": "x",'),
        ("undecodable payload", '{"eid": "not in an array"}'),
    ]
    assert CursorStore(cursor_path(data_dir, "duck")).load()["w0"].events == 13


def test_a_backlog_of_one_table_does_not_hold_back_another(data_dir):
    log0 = Log(data_dir, 0)
    log0.write(range(0, 300), per_record=10)
    pay = {"pid": str(uuid.UUID(int=99_999)), "created_at": BASE_MS, "amt": "3.25"}
    log0.writer.append(PAYMENTS.table_id, 1, orjson.dumps([pay]))
    log0.write(range(300, 2000), per_record=10)
    sink = CheckingSink("check", data_dir / "check.db")
    shipper = make_shipper(data_dir, [sink])
    sink.runner = shipper.runners[0]
    shipper.start()
    wait_for(lambda: sink.stored == 2001, "delivery")
    assert shipper.stop(timeout=30)
    log0.close()

    tables = [table for table, _ in sink.sizes]
    assert tables.count("events") == 40
    # The payment is buffered once the 300 events before it are; it is written
    # right after the events batch then in flight, not after the whole backlog.
    assert tables.index("payments") <= 8
    assert sink.violations == []


def test_a_sink_that_takes_some_tables_gets_only_those_and_does_not_hold_the_log(data_dir):
    from tracker.links import LinkBook, links_path
    from tracker.links.sink import LinksSink
    from tracker.model.tables import REDIRECT_HISTORY

    log = Log(data_dir, 0, segment_bytes=4000)
    log.write(range(0, 200))
    change = {"hid": str(uuid.UUID(int=7)), "changed_at": BASE_MS, "host": "go.example",
              "urlfrom": "https://go.example/a", "urlto": "https://t.example/",
              "action": "create"}
    log.writer.append(REDIRECT_HISTORY.table_id, 1, orjson.dumps([change]))
    log.write(range(200, 300))
    links = LinksSink(links_path(data_dir))
    db = data_dir / "duck.db"
    shipper = make_shipper(data_dir, [DuckDBSink("duck", db), links])
    shipper.start()
    wait_for(lambda: all(s["lag_events"] == 0 for s in shipper.state()["sinks"].values())
             and sum(shipper.appended().values()) == 301, "delivery")
    state = sink_state(shipper, "links")
    assert shipper.stop(timeout=10)
    log.close()
    assert list(LinkBook.load(links_path(data_dir)).links()) == ["go.example/a"]
    assert state["dead_letters"] == 0  # the events were skipped, not refused
    assert counts(db) == (300, 300)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT urlfrom FROM redirects").fetchall() == [
            ("https://go.example/a",)]
    finally:
        con.close()
