"""The ClickHouse schema loaded for real: on the private 18.16 server (legacy form,
single node and sharded over the local `tracker_test` cluster) and in chdb
(ClickHouse 26.x in-process: DateTime64, LowCardinality)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conformance.rows import uid
from tests.services import require_clickhouse, temporary_database
from tracker.model.tables import TABLES_BY_NAME, Kind
from tracker.sinks import duckdb_schema
from tracker.sinks.clickhouse_schema import (
    MODERN,
    Features,
    QueryClient,
    column_types,
    current_version,
    detect_features,
    load_schema,
    model_mismatches,
    render_schema,
)

DAY1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
A, B, C = uid(1, 0xA), uid(2, 0xA), uid(3, 0xA)
S1, S2, S4 = uid(1, 0x5), uid(2, 0x5), uid(4, 0x5)
HOME, PRICING = "https://Example.com/Home", "https://Example.com/pricing"
GOOGLE = "https://www.Google.com/search?q=x"


def ev(n: int, at: int, vid: str, sid: str, url: str, **over: Any) -> dict[str, Any]:
    row = {"eid": uid(n, 0xE), "created_at": at, "vid": vid, "sid": sid, "url": url,
           "host": "Example.com", "ename": "page_view", "bot": False}  # fmt: skip
    row.update(over)
    return row


EVENTS = [
    ev(1, DAY1 + 9 * HOUR, A, S1, HOME, referrer=GOOGLE),
    ev(2, DAY1 + 9 * HOUR + 5000, A, S1, HOME, ename="click"),
    ev(3, DAY1 + 9 * HOUR + 60_000, A, S1, PRICING, referrer="https://example.com/Home"),
    ev(4, DAY1 + 10 * HOUR, B, S2, HOME, referrer="https://news.ycombinator.com/item?id=1",
       xid="exp-1", split="A", outcome="view", score=1.0),
    ev(5, DAY1 + 11 * HOUR, C, S4, HOME, bot=True, referrer="https://spam.example/"),
]  # fmt: skip
PAYMENTS = [
    {"pid": uid(1, 0xB), "created_at": DAY1 + HOUR, "vid": A, "uid": "u1", "orid": "o1",
     "amt": "10.5000", "currency": "EUR"},
    {"pid": uid(2, 0xB), "created_at": DAY1 + 2 * HOUR, "vid": A, "amt": "2.2500"},
]  # fmt: skip


# ---- clients ---------------------------------------------------------------------


class ChdbClient:
    """chdb behind the loader's `execute(query) -> rows` shape."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        self.session = session.Session(str(path))

    def execute(self, query: str) -> list[tuple[Any, ...]]:
        text = self.session.query(query, "JSONCompact").bytes()
        return [tuple(r) for r in json.loads(text)["data"]] if text.strip() else []

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def server_client() -> Iterator[QueryClient]:
    from clickhouse_driver import Client

    server = require_clickhouse()
    client = Client(server.host, port=server.port)
    yield client
    client.disconnect()


@pytest.fixture
def database(server_client: QueryClient) -> Iterator[str]:
    with temporary_database(require_clickhouse()) as name:
        yield name


@pytest.fixture(scope="module")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    pytest.importorskip("chdb", reason="chdb-core is not installed (pip install chdb-core)")
    # chdb reads ./config.xml when there is one: run it from an empty directory.
    work = tmp_path_factory.mktemp("chdb")
    before = Path.cwd()
    os.chdir(work)
    try:
        client = ChdbClient(work / "data")
        yield client
        client.close()
    finally:
        os.chdir(before)


# ---- helpers -----------------------------------------------------------------------


def literal(kind: Kind, value: Any, features: Features) -> str:
    if value is None:
        return "NULL"
    if kind is Kind.UUID:
        return f"toUUID('{value}')"
    if kind is Kind.TIMESTAMP_MS:
        if features.datetime64:
            return f"fromUnixTimestamp64Milli(toInt64({value}), 'UTC')"
        return f"toInt64({value})"
    if kind is Kind.BOOL:
        return "1" if value else "0"
    if kind is Kind.DECIMAL:
        return f"toDecimal64('{value}', 4)"
    if kind in (Kind.INT, Kind.FLOAT):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def insert(client: QueryClient, db: str, table: str, rows: list[dict[str, Any]],
           features: Features) -> None:  # fmt: skip
    """One INSERT per row (one part each), so FINAL has duplicates to collapse."""
    spec = TABLES_BY_NAME[table]
    for row in rows:
        cols = [c for c in spec.columns if c.name in row]
        values = ", ".join(literal(c.kind, row[c.name], features) for c in cols)
        names = ", ".join(c.name for c in cols)
        client.execute(f"INSERT INTO {db}.{table} ({names}) SELECT {values}")


def query(client: QueryClient, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(str(v) for v in row) for row in client.execute(sql)]


def snapshot(client: QueryClient, db: str) -> dict[str, Any]:
    """Everything a second load could change: objects, their DDL, seeds, versions."""
    tables = client.execute(
        f"SELECT name, engine, create_table_query FROM system.tables WHERE database = '{db}'"
        " ORDER BY name"
    )
    return {
        "tables": tables,
        "jurisdictions": query(client, f"SELECT * FROM {db}.jurisdictions ORDER BY regulation"),
        "versions": query(client, f"SELECT version FROM {db}.schema_version ORDER BY version"),
    }


def check_views_count_each_event_once(client: QueryClient, db: str, features: Features) -> None:
    insert(client, db, "events", EVENTS + EVENTS, features)  # every event replayed once
    insert(client, db, "payments", PAYMENTS + PAYMENTS, features)

    assert query(client, f"SELECT count() FROM {db}.events FINAL") == [("5",)]
    assert query(client, f"SELECT toString(vid), events, sessions FROM {db}.visitors"
                 " ORDER BY events") == [(B, "1", "1"), (A, "3", "1")]  # fmt: skip
    assert query(client, f"SELECT toString(sid), events, duration_ms, first_url, last_url,"
                 f" referrer FROM {db}.sessions ORDER BY events") == [
        (S2, "1", "0", HOME, HOME, "https://news.ycombinator.com/item?id=1"),
        (S1, "3", "60000", HOME, PRICING, GOOGLE),
    ]  # fmt: skip
    assert query(client, f"SELECT day, host, events, visitors, sessions FROM {db}.dailies") == [
        ("2026-01-01", "Example.com", "4", "2", "2")
    ]
    assert query(client, f"SELECT referrer_host, visits, visitors FROM {db}.referrers"
                 " ORDER BY referrer_host") == [
        ("news.ycombinator.com", "1", "1"), ("www.google.com", "1", "1"),
    ]  # fmt: skip
    assert query(client, "SELECT xid, split, outcome, events, visitors,"
                 f" toString(toFloat64(score_sum)) FROM {db}.outcomes") == [
        ("exp-1", "A", "view", "1", "1", "1"),
    ]  # fmt: skip
    assert query(client, f"SELECT url, hits, visitors FROM {db}.hits ORDER BY url") == [
        (HOME, "3", "2"), (PRICING, "1", "1"),
    ]  # fmt: skip
    assert query(client, "SELECT id_type, id, currency, toString(toFloat64(amt))"
                 f" FROM {db}.ltv ORDER BY id_type, id, currency") == [
        ("orid", "o1", "EUR", "10.5"),
        ("uid", "u1", "EUR", "10.5"),
        ("vid", A, "", "2.25"),
        ("vid", A, "EUR", "10.5"),
    ]  # fmt: skip


def duckdb_jurisdictions() -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    duckdb_schema.load_schema(con)
    rows = con.execute("SELECT * FROM jurisdictions ORDER BY regulation").fetchall()
    con.close()
    return [(r[0], r[1], list(r[2]), list(r[3]), bool(r[4]), json.loads(r[5])) for r in rows]


def clickhouse_jurisdictions(client: QueryClient, db: str) -> list[tuple[Any, ...]]:
    rows = client.execute(f"SELECT * FROM {db}.jurisdictions FINAL ORDER BY regulation")
    return [(r[0], r[1], list(r[2]), list(r[3]), bool(int(r[4])), json.loads(r[5])) for r in rows]


# ---- the 18.16 server --------------------------------------------------------------


def test_server_is_detected_as_legacy(server_client: QueryClient) -> None:
    features = detect_features(server_client)
    if features.version >= (19,):
        pytest.skip(f"the test server is {features.version}, not the 18.x this test is about")
    assert not features.datetime64 and not features.low_cardinality and not features.ttl


def test_loads_twice_without_change(server_client: QueryClient, database: str) -> None:
    assert current_version(server_client, database) is None
    assert load_schema(server_client, database) == 5
    first = snapshot(server_client, database)
    assert load_schema(server_client, database) == 5
    assert snapshot(server_client, database) == first
    assert first["versions"] == [("1",), ("2",), ("3",), ("4",), ("5",)]
    assert current_version(server_client, database) == 5


def test_columns_equal_the_model(server_client: QueryClient, database: str) -> None:
    features = detect_features(server_client)
    load_schema(server_client, database, features=features)
    assert model_mismatches(server_client, database, features) == []
    for table, expected in column_types(features).items():
        described = server_client.execute(f"DESCRIBE TABLE {database}.{table}")
        assert [(r[0], r[1]) for r in described] == expected


def test_an_older_table_layout_is_reported(server_client: QueryClient, database: str) -> None:
    server_client.execute(
        f"CREATE TABLE {database}.agreements (aid UUID, created_at Int64)"
        " ENGINE = ReplacingMergeTree() ORDER BY aid"
    )
    load_schema(server_client, database)  # IF NOT EXISTS leaves it as it is
    problems = model_mismatches(server_client, database, detect_features(server_client))
    assert len(problems) == 1 and problems[0].startswith("agreements:")


def test_jurisdictions_are_seeded_like_duckdb(server_client: QueryClient, database: str) -> None:
    load_schema(server_client, database)
    load_schema(server_client, database)
    assert clickhouse_jurisdictions(server_client, database) == duckdb_jurisdictions()
    assert query(server_client, f"SELECT count() FROM {database}.jurisdictions") == [("5",)]


def test_views_count_each_event_once(server_client: QueryClient, database: str) -> None:
    features = detect_features(server_client)
    load_schema(server_client, database, features=features)
    check_views_count_each_event_once(server_client, database, features)


def test_sharded_mode_loads_and_routes_rows(server_client: QueryClient, database: str) -> None:
    features = detect_features(server_client)
    assert load_schema(server_client, database, cluster="tracker_test") == 5
    first = snapshot(server_client, database)
    load_schema(server_client, database, cluster="tracker_test")
    assert snapshot(server_client, database) == first
    engines = dict((name, engine) for name, engine, _ in first["tables"])
    assert engines["events"] == "Distributed"
    assert engines["events_local"] == "ReplacingMergeTree"  # no ZooKeeper: not replicated
    assert model_mismatches(server_client, database, features) == []
    # Rows inserted into the Distributed tables land in the local tables.
    check_views_count_each_event_once(server_client, database, features)
    assert query(server_client, f"SELECT count() FROM {database}.events_local FINAL") == [("5",)]
    assert query(server_client, f"SELECT count() FROM {database}.payments_local FINAL") == [
        ("2",)
    ]
    assert query(server_client, f"SELECT count() FROM {database}.jurisdictions_local") == [
        ("5",)
    ]


def test_an_unknown_cluster_is_refused(server_client: QueryClient, database: str) -> None:
    with pytest.raises(ValueError, match="no_such_cluster"):
        load_schema(server_client, database, cluster="no_such_cluster")


def test_replicated_ddl_parses_on_18_16(server_client: QueryClient) -> None:
    """Replication needs ZooKeeper, absent here, and a failed replicated CREATE leaves
    directories behind on 18.16; so the statements name a database that does not
    exist: the server parses each one, then refuses it for the database (81), not
    for its syntax (62)."""
    from clickhouse_driver.errors import ServerException

    absent = f"tracker_absent_{uid(7)[-12:]}"
    features = detect_features(server_client)
    statements = render_schema(features, absent, "tracker_test", True, on_cluster=False)
    replicated = [s for s in statements if "ENGINE = Replicated" in s]
    assert len(replicated) == 5  # events, payments, agreements, jurisdictions, redirect_history
    for statement in replicated:
        with pytest.raises(ServerException) as refused:
            server_client.execute(statement)
        assert refused.value.code == 81, refused.value.message  # UNKNOWN_DATABASE


# ---- chdb: the modern form -----------------------------------------------------------


def test_chdb_is_detected_as_modern(chdb_client: ChdbClient) -> None:
    features = detect_features(chdb_client)
    assert features.datetime64 and features.low_cardinality and features.ttl


def test_modern_form_loads_in_chdb_twice(chdb_client: ChdbClient) -> None:
    features = detect_features(chdb_client)
    assert load_schema(chdb_client, "modern", features=features) == 5
    first = snapshot(chdb_client, "modern")
    assert load_schema(chdb_client, "modern", features=features) == 5
    assert snapshot(chdb_client, "modern") == first
    assert model_mismatches(chdb_client, "modern", features) == []
    described = dict((r[0], r[1]) for r in chdb_client.execute("DESCRIBE TABLE modern.events"))
    assert described["created_at"] == "DateTime64(3, 'UTC')"
    assert described["etyp"] == "LowCardinality(Nullable(String))"
    assert clickhouse_jurisdictions(chdb_client, "modern") == duckdb_jurisdictions()


def test_modern_views_count_each_event_once(chdb_client: ChdbClient) -> None:
    features = detect_features(chdb_client)
    load_schema(chdb_client, "modern_views", features=features)
    check_views_count_each_event_once(chdb_client, "modern_views", features)


@pytest.mark.parametrize("replicated", [False, True], ids=["sharded", "replicated"])
def test_modern_cluster_ddl_parses(chdb_client: ChdbClient, replicated: bool) -> None:
    for statement in render_schema(MODERN, "tracker", "web", replicated):
        escaped = statement.replace("\\", "\\\\").replace("'", "\\'")
        formatted = chdb_client.execute(f"SELECT formatQuery('{escaped}')")
        assert formatted and formatted[0][0]
