"""The store an integration test delivers to: DuckDB (the default) or ClickHouse alone.

A test is written once and run against each (the `store` fixture in conftest.py):

    t = tracker_factory(Workers=2, Notify=store.notify).start()
    ...
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'x'") == [(1,)]

`{table}` placeholders name the tables: plain names on DuckDB, `name FINAL` on
ClickHouse for the tables that deduplicate on merge (ReplacingMergeTree), so a
replayed row counts once on both. `rows` is called after `t.stop()` for both
stores: DuckDB allows one writing process, and holding ClickHouse tests to the
same rule keeps a test that passes on one store meaningful on the other.

Values come back in one form whatever the store: timestamps as int
milliseconds UTC (ClickHouse 18.x stores them so), UUIDs as text. Decimals
are `Decimal` and counts `int` on both already.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_driver import Client

from tests.integration.harness import TrackerProcess
from tests.services import ClickHouseServer

Rows = list[tuple[Any, ...]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clickhouse_entry(database: str, port: int, http_port: int, host: str = "127.0.0.1",
                     **extra: Any) -> dict[str, Any]:
    """A `Notify` entry for a ClickHouse store (short batch time: tests wait on delivery)."""
    return {"Type": "clickhouse", "Host": host, "Port": port, "HttpPort": http_port,
            "Database": database, "MaxBatchTime": "100ms", **extra}


def query(server: ClickHouseServer, database: str, sql: str) -> Rows:
    """Run one statement over the native protocol; the rows as clickhouse-driver gives them."""
    client = Client(server.host, port=server.port, database=database)
    try:
        return client.execute(sql)
    finally:
        client.disconnect()


class _Tables(dict[str, str]):
    """`{name}` -> the name itself, unless the store reads it differently."""

    def __missing__(self, key: str) -> str:
        return key


@dataclass(frozen=True, slots=True)
class StoreUnderTest:
    """One store configuration an integration test runs against."""

    name: str  # "duckdb" or "clickhouse"
    notify: list[dict[str, Any]]  # the config's Notify value
    _read: Callable[[TrackerProcess, str], Rows]

    def rows(self, t: TrackerProcess, sql: str) -> Rows:
        """The rows of `sql` (with `{table}` placeholders) as plain values; after `t.stop()`."""
        assert t.proc is None or t.proc.poll() is not None, "call store.rows after t.stop()"
        return [tuple(_plain(v) for v in row) for row in self._read(t, sql)]


def duckdb_store() -> StoreUnderTest:
    """The default store: DuckDB in the data directory (read with `TrackerProcess.query`)."""
    return StoreUnderTest("duckdb", [{"Type": "duckdb"}],
                          lambda t, sql: t.query(sql.format_map(_Tables())))


def clickhouse_store(server: ClickHouseServer, database: str) -> StoreUnderTest:
    """ClickHouse as the only store, in `database` (the sink creates it)."""

    def read(_: TrackerProcess, sql: str) -> Rows:
        return query(server, database, sql.format_map(_replacing_tables(server, database)))

    entry = clickhouse_entry(database, server.port, server.http_port, server.host)
    return StoreUnderTest("clickhouse", [entry], read)


def _replacing_tables(server: ClickHouseServer, database: str) -> _Tables:
    # Asked of the server rather than listed here, so a new table needs no edit.
    engines = query(server, database, "SELECT name, engine FROM system.tables "
                                      f"WHERE database = '{database}'")
    return _Tables({name: f"{name} FINAL" for name, engine in engines if "Replacing" in engine})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):  # DuckDB TIMESTAMP is naive UTC
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
