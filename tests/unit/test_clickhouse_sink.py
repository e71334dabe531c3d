"""The ClickHouse sink beyond the conformance suite: lanes, ltv, errors, schema loss, cluster.

Against the real test server (tests/services.py); each test uses its own database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.conformance.batches import RowBatch, column_batch
from tests.conformance.rows import event, payment
from tests.services import ClickHouseServer, require_clickhouse, temporary_database
from tracker.model.tables import EVENTS, PAYMENTS
from tracker.sinks.base import PermanentError, RetryableError
from tracker.sinks.clickhouse import (
    PARALLEL_MIN_ROWS,
    ClickHouseSink,
    default_compression,
    first_of_each_key,
    is_loopback,
    split,
)
from tracker.sinks.clickhouse_http import HttpInserter

# ---- without a server ------------------------------------------------------------------


def test_loopback_hosts_get_no_compression() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.5") and not is_loopback("ch.example.com")
    assert default_compression("127.0.0.1") == "none"
    assert default_compression("ch.example.com") == "lz4"


def test_repeated_keys_in_a_batch_keep_the_first_row() -> None:
    first, second = event(1, ename="first"), event(1, ename="second")
    unique = first_of_each_key(column_batch(EVENTS, [first, event(2), second, event(3)]))
    assert [(r["eid"], r["ename"]) for r in unique.rows()] == [
        (event(1)["eid"], "first"), (event(2)["eid"], "SignUp"), (event(3)["eid"], "SignUp")]
    batch = column_batch(EVENTS, [event(1), event(2)])
    assert first_of_each_key(batch) is batch  # nothing to drop: the same batch


def test_only_large_batches_are_split() -> None:
    small = RowBatch(EVENTS, [event(n) for n in range(10)])
    assert split(small, 2) == [small]
    big = RowBatch(EVENTS, [{"eid": f"{n}"} for n in range(PARALLEL_MIN_ROWS + 1)])
    parts = split(big, 2)
    assert [p.num_rows for p in parts] == [PARALLEL_MIN_ROWS // 2, PARALLEL_MIN_ROWS // 2 + 1]
    assert parts[1].rows()[0]["eid"] == str(PARALLEL_MIN_ROWS // 2)


# ---- against the server ----------------------------------------------------------------


@pytest.fixture
def server() -> ClickHouseServer:
    return require_clickhouse()


@pytest.fixture
def database(server: ClickHouseServer) -> Iterator[str]:
    with temporary_database(server) as name:
        yield name


def options(server: ClickHouseServer, database: str, **over: Any) -> dict[str, Any]:
    return {"Host": server.host, "Port": server.port, "HttpPort": server.http_port,
            "Database": database, **over}


@pytest.fixture
def sink(server: ClickHouseServer, database: str) -> Iterator[ClickHouseSink]:
    s = ClickHouseSink("ch", options(server, database))
    s.open()
    yield s
    s.close()


def scalar(server: ClickHouseServer, sql: str) -> str:
    return server.query(sql).strip()


@pytest.mark.parametrize("compression", ["none", "lz4", "gzip"])
def test_large_batch_goes_in_parallel_parts_and_lands_once(
    server: ClickHouseServer, database: str, compression: str
) -> None:
    sink = ClickHouseSink("ch", options(server, database), compression=compression)
    sink.open()
    try:
        n = PARALLEL_MIN_ROWS + 123
        batch = column_batch(EVENTS, [event(i, params={"i": i}) for i in range(n)])
        sink.write(batch)
        sink.write(batch)  # a replay of the whole batch
    finally:
        sink.close()
    assert scalar(server, f"SELECT count(), uniqExact(eid) FROM {database}.events FINAL") == \
        f"{n}\t{n}"
    # Two parts per write (until merged): the batch really went in two INSERTs.
    parts = scalar(server, f"SELECT count() FROM system.parts WHERE database = '{database}' "
                           "AND table = 'events'")
    assert int(parts) >= 2 or int(scalar(server, f"SELECT count() FROM {database}.events")) == n


def test_replayed_payments_do_not_change_ltv(
    sink: ClickHouseSink, server: ClickHouseServer, database: str
) -> None:
    rows = [payment(1, amt="10.5000"), payment(2, amt="4.5000", uid="User-1")]
    sink.write(column_batch(PAYMENTS, rows))
    ltv = f"SELECT amt FROM {database}.ltv WHERE id_type = 'uid' AND id = 'User-1'"
    assert Decimal(scalar(server, ltv)) == Decimal("15")
    sink.write(column_batch(PAYMENTS, rows))
    sink.write(column_batch(PAYMENTS, [rows[1], rows[1]]))
    assert Decimal(scalar(server, ltv)) == Decimal("15")


def test_a_value_the_encoder_refuses_is_permanent_and_sends_nothing(
    sink: ClickHouseSink, server: ClickHouseServer, database: str
) -> None:
    bad = RowBatch(EVENTS, [event(1), event(2, vid="not-a-uuid")])
    with pytest.raises(PermanentError, match="vid"):
        sink.write(bad)
    assert scalar(server, f"SELECT count() FROM {database}.events") == "0"
    sink.write(bad.slice(0, 1))
    assert scalar(server, f"SELECT count() FROM {database}.events FINAL") == "1"


def test_data_the_server_refuses_is_permanent(
    server: ClickHouseServer, database: str
) -> None:
    server.query(f"CREATE TABLE {database}.t (n UInt32) ENGINE = Memory")
    inserter = HttpInserter(server.host, server.http_port)
    with pytest.raises(PermanentError, match="Code: "):
        inserter.insert(f"INSERT INTO {database}.t FORMAT CSV", b"12\nnot a number\n")
    inserter.insert(f"INSERT INTO {database}.t FORMAT CSV", b"12\n")
    inserter.close()
    assert scalar(server, f"SELECT sum(n) FROM {database}.t") == "12"


def test_wrong_password_is_retryable_and_not_echoed(
    server: ClickHouseServer, database: str
) -> None:
    server.query(f"CREATE TABLE {database}.t (n UInt32) ENGINE = Memory")
    inserter = HttpInserter(server.host, server.http_port, password="hunter2-secret")
    with pytest.raises(RetryableError) as info:
        inserter.insert(f"INSERT INTO {database}.t FORMAT CSV", b"12\n")
    inserter.close()
    assert "hunter2" not in str(info.value) and "HTTP" in str(info.value)
    assert scalar(server, f"SELECT count() FROM {database}.t") == "0"


def test_a_dropped_table_is_recreated_on_the_next_write(
    sink: ClickHouseSink, server: ClickHouseServer, database: str
) -> None:
    sink.write(column_batch(EVENTS, [event(1)]))
    server.query(f"DROP TABLE {database}.events")
    with pytest.raises(RetryableError):
        sink.write(column_batch(EVENTS, [event(2)]))
    sink.write(column_batch(EVENTS, [event(2)]))  # re-opened: schema loaded again
    assert scalar(server, f"SELECT count() FROM {database}.events FINAL") == "1"


def test_server_down_is_retryable(database: str) -> None:
    sink = ClickHouseSink("ch", {"Host": "127.0.0.1", "Port": 1, "HttpPort": 1,
                                 "Database": database, "Password": "hunter2"},
                          connect_timeout=2)
    with pytest.raises(RetryableError) as info:
        sink.open()
    assert "hunter2" not in str(info.value)
    with pytest.raises(RetryableError):
        sink.write(column_batch(EVENTS, [event(1)]))
    sink.close()


def test_cluster_mode_writes_through_the_distributed_table(
    server: ClickHouseServer, database: str
) -> None:
    # The test server defines the one-shard cluster `tracker_test` (scripts/services).
    sink = ClickHouseSink("ch", options(server, database, Cluster="tracker_test"))
    sink.open()
    try:
        sink.write(column_batch(EVENTS, [event(1), event(2)]))
        sink.write(column_batch(EVENTS, [event(2), event(3)]))
    finally:
        sink.close()
    engine = scalar(server, f"SELECT engine FROM system.tables WHERE database = '{database}' "
                            "AND name = 'events'")
    assert engine == "Distributed"
    # Inserts into a Distributed table reach the shards in the background.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stored = scalar(server, f"SELECT count() FROM {database}.events_local FINAL")
        if stored == "3":
            break
        time.sleep(0.1)
    assert stored == "3"
