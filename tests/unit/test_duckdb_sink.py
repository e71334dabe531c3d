"""DuckDBSink behaviour beyond the conformance suite: its dedup window, ltv,
error mapping, connection handling and checkpoints."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

import tracker.sinks.duckdb as duckdb_module
from tests.conformance.batches import RowBatch, column_batch
from tests.conformance.rows import event, payment
from tracker.model.tables import EVENTS, PAYMENTS
from tracker.sinks.base import PermanentError, RetryableError
from tracker.sinks.duckdb import DEDUP_WINDOW, DuckDBSink

WINDOW_MS = int(DEDUP_WINDOW.total_seconds() * 1000)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tracker.duckdb"


@pytest.fixture
def sink(path: Path) -> Iterator[DuckDBSink]:
    s = DuckDBSink("duck", path)
    s.open()
    yield s
    s.close()


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path)) as con:
        return con.execute(sql, params or []).fetchall()


def test_open_creates_the_directory(sink: DuckDBSink, path: Path) -> None:
    assert path.exists()
    assert query(path, "SELECT max(version) FROM schema_version") == [(5,)]


def test_first_occurrence_in_a_batch_wins(sink: DuckDBSink, path: Path) -> None:
    sink.write(column_batch(EVENTS, [event(1, ename="first"), event(2), event(1, ename="second")]))
    assert query(path, "SELECT ename FROM events WHERE eid = ?", [event(1)["eid"]]) == [("first",)]


def test_replay_of_an_old_row_is_absorbed_whatever_its_age(sink: DuckDBSink, path: Path) -> None:
    old = event(1, created_at=event(1)["created_at"] - 365 * 86_400_000)
    sink.write(column_batch(EVENTS, [old]))
    sink.write(column_batch(EVENTS, [event(2), event(3)]))  # much newer rows since
    sink.write(column_batch(EVENTS, [old]))
    assert query(path, "SELECT count(*) FROM events") == [(3,)]


def test_retry_is_absorbed_inside_the_window_and_stored_again_beyond_it(
    sink: DuckDBSink, path: Path
) -> None:
    original = event(1)
    inside = event(1, created_at=original["created_at"] + WINDOW_MS - 1000)
    beyond = event(1, created_at=original["created_at"] + WINDOW_MS + 1000)
    sink.write(column_batch(EVENTS, [original]))
    sink.write(column_batch(EVENTS, [inside]))
    assert query(path, "SELECT count(*) FROM events") == [(1,)]
    sink.write(column_batch(EVENTS, [beyond]))  # the documented limit of the guarantee
    assert query(path, "SELECT count(*) FROM events") == [(2,)]


def test_random_and_mixed_case_ids_are_still_found(sink: DuckDBSink, path: Path) -> None:
    # The probe narrows by the batch's id range; ids that are not time-ordered
    # (client UUIDv4) or not lowercase must not slip through it.
    ids = [str(uuid.UUID(int=random.Random(n).getrandbits(128), version=4)) for n in range(50)]
    rows = [event(n, eid=eid) for n, eid in enumerate(ids)]
    sink.write(column_batch(EVENTS, rows[:25]))
    sink.write(column_batch(EVENTS, rows[::2]))
    assert query(path, "SELECT count(*) FROM events") == [(25 + 12,)]  # + even 26..48
    # Uppercase text sorts before lowercase, UUID values do not: "B0.." > "a0..".
    low, high = "a0000000-0000-4000-8000-000000000001", "b0000000-0000-4000-8000-000000000002"
    sink.write(column_batch(EVENTS, [event(60, eid=low), event(61, eid=high)]))
    sink.write(RowBatch(EVENTS, [event(61, eid=high.upper()), event(60, eid=low)]))
    assert query(path, "SELECT count(*) FROM events") == [(25 + 12 + 2,)]


def test_timestamps_beyond_python_datetime_are_deduplicated(sink: DuckDBSink, path: Path) -> None:
    far = event(1, created_at=9_000_000_000_000_000)  # year 287168: DuckDB stores it
    sink.write(column_batch(EVENTS, [far]))
    sink.write(column_batch(EVENTS, [far, event(2)]))
    assert query(path, "SELECT count(*) FROM events") == [(2,)]


def test_payments_add_to_ltv_once(sink: DuckDBSink, path: Path) -> None:
    vid = payment(1)["vid"]
    lines = [
        payment(1, amt="10.5000", uid="Ann", orid="O-1"),
        payment(2, amt="2.2500", uid="Ann", orid="O-1", vid=vid),
        payment(3, amt="1.0000", uid="Ann", orid=None, vid=None, currency="USD"),
        payment(4, amt="5.0000", uid=None, orid=None, vid=None, currency=None),
    ]
    sink.write(column_batch(PAYMENTS, lines[:2]))
    sink.write(column_batch(PAYMENTS, lines))  # the first two replayed
    sink.write(column_batch(PAYMENTS, [lines[2], lines[2]]))
    ltv = {(t, i, c): a for t, i, c, a in query(path, "SELECT id_type, id, currency, amt FROM ltv")}
    assert ltv == {
        ("vid", vid, "EUR"): Decimal("12.7500"),
        ("uid", "Ann", "EUR"): Decimal("12.7500"),
        ("orid", "O-1", "EUR"): Decimal("12.7500"),
        ("uid", "Ann", "USD"): Decimal("1.0000"),
    }
    assert query(path, "SELECT sum(amt) FROM payments") == [(Decimal("18.7500"),)]


def test_a_refused_payment_leaves_ltv_untouched(sink: DuckDBSink, path: Path) -> None:
    with pytest.raises(PermanentError):
        sink.write(RowBatch(PAYMENTS, [payment(1), payment(2, price="n/a")]))
    assert query(path, "SELECT count(*) FROM ltv") == [(0,)]
    assert query(path, "SELECT count(*) FROM payments") == [(0,)]


# RowBatch hands the store values the column buffer would refuse: the sink must
# still call them permanent, whatever batch implementation reaches it.
@pytest.mark.parametrize(
    ("table", "bad"),
    [
        (EVENTS, event(1, eid="not-a-uuid")),
        (EVENTS, event(1, sid="0190c2a4-7c3f-7b1e-8f00-00000000000")),  # a digit short
        (PAYMENTS, payment(1, amt="1e20")),  # beyond DECIMAL(18,4)
        (PAYMENTS, payment(1, amt=None)),  # NOT NULL
        (EVENTS, event(1, vp_w="wide")),  # cannot even become an Arrow int64 column
    ],
    ids=["uuid", "short-uuid", "decimal-range", "not-null", "arrow-type"],
)
def test_values_given_directly_that_the_store_refuses_are_permanent(
    sink: DuckDBSink, path: Path, table, bad: dict
) -> None:
    with pytest.raises(PermanentError):
        sink.write(RowBatch(table, [bad]))
    assert query(path, f"SELECT count(*) FROM {table.name}") == [(0,)]


def test_write_opens_a_sink_that_was_not_opened(path: Path) -> None:
    sink = DuckDBSink("duck", path)
    try:
        sink.write(column_batch(EVENTS, [event(1)]))
    finally:
        sink.close()
    assert query(path, "SELECT count(*) FROM events") == [(1,)]


def test_a_store_error_is_retryable_and_the_next_write_reconnects(
    sink: DuckDBSink, path: Path
) -> None:
    sink.write(column_batch(EVENTS, [event(1)]))
    query(path, "DROP TABLE events")  # someone broke the store under the sink
    with pytest.raises(RetryableError):
        sink.write(column_batch(EVENTS, [event(2)]))
    sink.write(column_batch(EVENTS, [event(2)]))  # reconnected, schema reloaded
    assert query(path, "SELECT count(*) FROM events") == [(1,)]


def test_a_file_locked_by_another_process_is_retryable(path: Path) -> None:
    path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        sink = DuckDBSink("duck", path)
        with pytest.raises(RetryableError, match="lock"):
            sink.open()
        with pytest.raises(RetryableError):
            sink.write(column_batch(EVENTS, [event(1)]))
    finally:
        holder.communicate("", timeout=30)
    sink.write(column_batch(EVENTS, [event(1)]))  # the lock is gone: the retry succeeds
    sink.close()
    assert query(path, "SELECT count(*) FROM events") == [(1,)]


def test_a_file_with_tables_unlike_the_model_is_not_written(path: Path) -> None:
    path.parent.mkdir(parents=True)
    query(path, "CREATE TABLE agreements (aid UUID NOT NULL, created_at TIMESTAMP NOT NULL)")
    sink = DuckDBSink("duck", path)
    # Retryable, not permanent: the rows wait in the log for a migration instead
    # of every batch being bisected into the dead-letter file.
    with pytest.raises(RetryableError, match="differ from the model"):
        sink.open()
    with pytest.raises(RetryableError):
        sink.write(column_batch(EVENTS, [event(1)]))
    sink.close()


def test_threads_and_memory_limit_are_applied(path: Path) -> None:
    sink = DuckDBSink("duck", path, threads=1, memory_limit="300MB")
    sink.open()
    try:
        config = {"threads": 1, "memory_limit": "300MB"}
        with duckdb.connect(str(path), config=config) as con:  # same instance, same config
            threads, limit = con.execute(
                "SELECT current_setting('threads'), current_setting('memory_limit')"
            ).fetchone()
        assert threads == 1
        assert limit.startswith("286")  # 300 MB shown in MiB
    finally:
        sink.close()


def test_the_sink_checkpoints_after_enough_rows(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_module, "CHECKPOINT_ROWS", 3)
    wal = path.with_name(path.name + ".wal")
    sink = DuckDBSink("duck", path)
    sink.open()
    try:
        sink.write(column_batch(EVENTS, [event(1), event(2)]))
        assert wal.exists() and wal.stat().st_size > 0
        sink.write(column_batch(EVENTS, [event(3), event(4)]))
        assert not wal.exists() or wal.stat().st_size == 0
    finally:
        sink.close()


def test_a_slow_insert_draws_no_progress_bar_on_the_console(tmp_path: Path) -> None:
    sink = DuckDBSink("duckdb", tmp_path / "t.duckdb")
    sink.open()
    try:
        setting = "SELECT current_setting('enable_progress_bar')"
        assert sink._con.execute(setting).fetchone() == (False,)
        assert sink._con.cursor().execute(setting).fetchone() == (False,)  # the read path's
    finally:
        sink.close()
