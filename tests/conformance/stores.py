"""The stores the conformance suite runs against: one SinkFactory entry each.

Adding a store = one more entry in SINK_FACTORIES. A store that needs a server
starts it lazily from its callables (e.g. one per session, a database per test
directory) and can carry pytest marks (e.g. `pytest.mark.integration`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from tests.conformance.harness import SinkFactory, normalize_row
from tests.services import ClickHouseServer, require_clickhouse
from tracker.model.tables import TABLES_BY_NAME
from tracker.sinks.clickhouse import ClickHouseSink
from tracker.sinks.duckdb import DuckDBSink

# ---- DuckDB ---------------------------------------------------------------


class DuckDBProbe:
    """A short-lived connection per call: it shares the sink's in-process database
    instance while the sink is open and opens the file itself when it is not."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def count(self, table: str) -> int:
        with duckdb.connect(str(self.path)) as con:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def fetch(self, table: str, key: str) -> list[dict[str, Any]]:
        spec = TABLES_BY_NAME[table]
        with duckdb.connect(str(self.path)) as con:
            cur = con.execute(f"SELECT * FROM {table} WHERE {spec.key} = ?", [key])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return [normalize_row(spec, r) for r in rows]


DUCKDB = SinkFactory(
    name="duckdb",
    new_sink=lambda tmp: DuckDBSink("conformance", tmp / "store" / "tracker.duckdb"),
    new_probe=lambda tmp: DuckDBProbe(tmp / "store" / "tracker.duckdb"),
    # Values the column buffer accepts (any int64 milliseconds) but DuckDB's
    # TIMESTAMP (microseconds in an int64) cannot hold.
    rejected=(
        ("events", {"created_at": 2**62}),
        ("events", {"client_ts": -(2**62)}),
        ("payments", {"created_at": 2**62}),
        ("agreements", {"created_at": -(2**62)}),
    ),
)

# ---- ClickHouse --------------------------------------------------------------


class ClickHouseProbe:
    """Reads with FINAL, as every query of a ReplacingMergeTree table must."""

    def __init__(self, server: ClickHouseServer, database: str) -> None:
        self.server = server
        self.database = database

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        from clickhouse_driver import Client

        client = Client(self.server.host, port=self.server.port, database=self.database,
                        settings={"use_client_time_zone": False})
        try:
            return client.execute(sql, params, with_column_types=True)
        finally:
            client.disconnect()

    def count(self, table: str) -> int:
        rows, _ = self._execute(f"SELECT count() FROM {table} FINAL")
        return rows[0][0]

    def fetch(self, table: str, key: str) -> list[dict[str, Any]]:
        spec = TABLES_BY_NAME[table]
        rows, columns = self._execute(
            f"SELECT * FROM {table} FINAL WHERE {spec.key} = toUUID(%(key)s)", {"key": key})
        names = [name for name, _ in columns]
        return [normalize_row(spec, _utc_naive(dict(zip(names, r, strict=True)))) for r in rows]


def _utc_naive(row: dict[str, Any]) -> dict[str, Any]:
    """DateTime64 values (current servers) as the naive UTC datetimes `normalize` expects."""
    return {k: v.astimezone(UTC).replace(tzinfo=None)
            if isinstance(v, datetime) and v.tzinfo else v for k, v in row.items()}


class ClickHouseDatabases:
    """One database per test directory on the shared test server, all dropped at exit."""

    def __init__(self) -> None:
        self.made: set[str] = set()

    def name(self, tmp: Path) -> tuple[ClickHouseServer, str]:
        server = require_clickhouse()  # skips (or fails under TRACKER_REQUIRE_SERVICES=1)
        if not self.made:
            atexit.register(self.drop_all, server)
        database = "tracker_test_conf_" + hashlib.sha1(str(tmp).encode()).hexdigest()[:12]
        self.made.add(database)
        return server, database

    def drop_all(self, server: ClickHouseServer) -> None:
        for database in self.made:
            with contextlib.suppress(OSError):
                server.query(f"DROP DATABASE IF EXISTS {database}")


def _clickhouse_sink(databases: ClickHouseDatabases, tmp: Path) -> ClickHouseSink:
    server, database = databases.name(tmp)
    return ClickHouseSink("conformance", {
        "Host": server.host, "Port": server.port, "HttpPort": server.http_port,
        "Database": database})


def _clickhouse_probe(databases: ClickHouseDatabases, tmp: Path) -> ClickHouseProbe:
    return ClickHouseProbe(*databases.name(tmp))


_DATABASES = ClickHouseDatabases()
CLICKHOUSE = SinkFactory(
    name="clickhouse",
    new_sink=lambda tmp: _clickhouse_sink(_DATABASES, tmp),
    new_probe=lambda tmp: _clickhouse_probe(_DATABASES, tmp),
    # Nothing to refuse: every value the column buffer accepts fits the tables
    # (ts are Int64 ms or DateTime64(3), decimals Decimal(18, 4) as in the buffer).
    rejected=(),
)

SINK_FACTORIES: list[SinkFactory] = [DUCKDB, CLICKHOUSE]
