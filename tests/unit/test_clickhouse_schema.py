"""Rendering the ClickHouse schema templates (no server; see tests/integration for loads)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracker.model.tables import TABLES, Table
from tracker.sinks.clickhouse_schema import (
    LEGACY_18,
    MODERN,
    Features,
    column_types,
    parse_version,
    render_schema,
    schema_dir,
    schema_files,
    target_table,
)

REPO_SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "clickhouse"
DATA_TABLES = ("events", "payments", "agreements", "jurisdictions", "redirect_history")
EVENT_VIEWS = ("visitors", "sessions", "dailies", "referrers", "outcomes", "hits")
VIEWS = (*EVENT_VIEWS, "redirects")
FEATURES = {"legacy": LEGACY_18, "modern": MODERN}


def create_statement(statements: list[str], name: str) -> str:
    (found,) = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS {name} ")]
    return found


def declared_columns(statement: str) -> list[tuple[str, str]]:
    """`(name, type)` of the column list of a CREATE TABLE statement."""
    body = statement[statement.index("(\n") + 2 : statement.index("\n)")]
    out = []
    for line in body.splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        name, type_ = line.split(None, 1)
        out.append((name, type_.strip()))
    return out


def test_schema_dir_is_the_repository_copy() -> None:
    assert schema_dir() == REPO_SCHEMA


def test_files_are_numbered_like_duckdb() -> None:
    duckdb_names = sorted(p.name for p in (REPO_SCHEMA.parent / "duckdb").glob("*.sql"))
    assert [p.name for _, p in schema_files()] == duckdb_names


@pytest.mark.parametrize("features", FEATURES.values(), ids=FEATURES.keys())
@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_declared_columns_match_the_model(features: Features, table: Table) -> None:
    statements = render_schema(features, "db")
    declared = declared_columns(create_statement(statements, f"db.{table.name}"))
    assert declared == column_types(features)[table.name]
    assert [n for n, _ in declared] == list(table.column_names)


def test_type_mapping_per_generation() -> None:
    legacy = dict(column_types(LEGACY_18)["events"])
    modern = dict(column_types(MODERN)["events"])
    assert legacy["created_at"] == "Int64"  # milliseconds: 18.x has no DateTime64
    assert modern["created_at"] == "DateTime64(3, 'UTC')"
    assert legacy["client_ts"] == "Nullable(Int64)"
    assert modern["client_ts"] == "Nullable(DateTime64(3, 'UTC'))"
    assert legacy["etyp"] == "Nullable(String)"
    assert modern["etyp"] == "LowCardinality(Nullable(String))"
    assert modern["url"] == legacy["url"] == "Nullable(String)"
    assert modern["eid"] == "UUID" and modern["vid"] == "Nullable(UUID)"
    assert modern["bot"] == "UInt8" and modern["vp_w"] == "Nullable(Int64)"
    assert modern["params"] == "Nullable(String)"
    assert dict(column_types(LEGACY_18)["payments"])["amt"] == "Decimal(18, 4)"
    assert dict(column_types(MODERN)["agreements"])["cflags"] == "Int64"


def test_legacy_form_uses_nothing_18_16_lacks() -> None:
    text = "\n".join(render_schema(LEGACY_18, "db"))
    for missing in ("DateTime64", "LowCardinality", "TTL", "toUnixTimestamp64Milli"):
        assert missing not in text


def test_every_placeholder_is_filled() -> None:
    for features in FEATURES.values():
        for cluster, replicated in ((None, False), ("c", False), ("c", True)):
            text = "\n".join(render_schema(features, "db", cluster, replicated))
            assert "{{" not in text and "}}" not in text


def test_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "001_x.sql").write_text("CREATE TABLE {{nope}} (a UInt8) ENGINE = Log;\n")
    with pytest.raises(ValueError, match="nope"):
        render_schema(MODERN, "db", directory=tmp_path)


def test_events_are_deduplicated_by_eid_per_month() -> None:
    events = create_statement(render_schema(MODERN, "db"), "db.events")
    assert "ENGINE = ReplacingMergeTree()" in events
    assert "PARTITION BY toYYYYMM(created_at)" in events
    assert "ORDER BY (toDate(created_at), eid)" in events
    legacy = create_statement(render_schema(LEGACY_18, "db"), "db.events")
    assert "PARTITION BY toYYYYMM(toDateTime(intDiv(created_at, 1000), 'UTC'))" in legacy
    payments = create_statement(render_schema(MODERN, "db"), "db.payments")
    assert "ORDER BY (toDate(created_at), pid)" in payments
    agreements = create_statement(render_schema(MODERN, "db"), "db.agreements")
    assert "ORDER BY (toDate(created_at), aid)" in agreements


@pytest.mark.parametrize("view", EVENT_VIEWS)
def test_views_read_events_final(view: str) -> None:
    (statement,) = [s for s in render_schema(MODERN, "db") if f"VIEW IF NOT EXISTS db.{view} " in s]
    assert "FROM db.events FINAL" in statement


def test_redirects_read_the_history_final() -> None:
    statements = render_schema(MODERN, "db")
    (statement,) = [s for s in statements if "VIEW IF NOT EXISTS db.redirects " in s]
    assert "FROM db.redirect_history FINAL" in statement


def test_ltv_sums_deduplicated_payments() -> None:
    (ltv,) = [s for s in render_schema(MODERN, "db") if "VIEW IF NOT EXISTS db.ltv " in s]
    assert "FROM db.payments FINAL" in ltv
    assert "GROUP BY id_type, id, currency_key" in ltv


def test_single_node_has_no_cluster_objects() -> None:
    text = "\n".join(render_schema(MODERN, "db"))
    for word in ("_local", "Distributed", "ON CLUSTER", "Replicated"):
        assert word not in text


def test_sharded_mode_is_local_tables_plus_distributed() -> None:
    statements = render_schema(MODERN, "db", "web", replicated=False)
    text = "\n".join(statements)
    assert "Replicated" not in text
    for table in DATA_TABLES:
        local = create_statement(statements, f"db.{table}_local ON CLUSTER 'web'")
        assert "MergeTree()" in local
        distributed = create_statement(statements, f"db.{table} ON CLUSTER 'web'")
        assert f"AS db.{table}_local" in distributed
        assert f"ENGINE = Distributed('web', 'db', '{table}_local', cityHash64(" in distributed
    assert sum("ENGINE = Distributed(" in s for s in statements) == len(DATA_TABLES)
    assert "cityHash64(toString(coalesce(vid, eid)))" in text
    assert "cityHash64(toString(coalesce(vid, pid)))" in text
    # Views read the logical (Distributed) tables, so they see every shard.
    assert "FROM db.events FINAL" in text and "FROM db.events_local" not in text


def test_every_create_is_on_cluster_except_the_version_table() -> None:
    statements = render_schema(MODERN, "db", "web")
    for statement in statements:
        if statement.startswith("CREATE") and "schema_version" not in statement:
            assert "ON CLUSTER 'web'" in statement.splitlines()[0]
    (version_table,) = [s for s in statements if "schema_version" in s]
    assert "ON CLUSTER" not in version_table


def test_without_on_cluster_the_ddl_is_for_one_node() -> None:
    text = "\n".join(render_schema(LEGACY_18, "db", "web", on_cluster=False))
    assert "ON CLUSTER" not in text
    assert "Distributed('web'" in text


def test_replicated_mode_uses_zookeeper_paths_per_shard() -> None:
    statements = render_schema(MODERN, "tracker", "web", replicated=True)
    events = create_statement(statements, "tracker.events_local ON CLUSTER 'web'")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/tracker/events_local', '{replica}')"
    ) in events
    history = create_statement(statements, "tracker.redirect_history_local ON CLUSTER 'web'")
    assert ("ReplicatedReplacingMergeTree("
            "'/clickhouse/tables/{shard}/tracker/redirect_history_local'") in (
        history
    )
    for table in DATA_TABLES:
        local = create_statement(statements, f"tracker.{table}_local ON CLUSTER 'web'")
        assert "ENGINE = Replicated" in local


def test_statements_in_order_of_the_files() -> None:
    statements = render_schema(MODERN, "db")
    first_lines = [s.splitlines()[0] for s in statements]
    assert first_lines[0] == "CREATE DATABASE IF NOT EXISTS db"
    assert first_lines[2].startswith("CREATE TABLE IF NOT EXISTS db.events ")
    assert first_lines[-1].startswith("CREATE VIEW IF NOT EXISTS db.hits ")
    assert len(statements) == 2 + len(DATA_TABLES) + 1 + 1 + len(VIEWS)  # + ltv + seed


@pytest.mark.parametrize("bad", ["", "1db", "db-x", "db;DROP", "a.b"])
def test_database_names_are_plain_identifiers(bad: str) -> None:
    with pytest.raises(ValueError):
        render_schema(MODERN, bad)


def test_replicated_needs_a_cluster() -> None:
    with pytest.raises(ValueError):
        render_schema(MODERN, "db", None, replicated=True)


def test_cluster_names_are_checked() -> None:
    with pytest.raises(ValueError):
        render_schema(MODERN, "db", "c' ; DROP")


def test_parse_version() -> None:
    assert parse_version("18.16.1") == (18, 16, 1)
    assert parse_version("26.9.2.1") == (26, 9, 2)
    assert parse_version("24.3.1.2672-lts") == (24, 3, 1)


def test_sinks_insert_into_the_logical_table() -> None:
    assert target_table("events") == "events"
    assert target_table("events", cluster="web") == "events"


def test_rendered_text_has_no_comment_only_statement() -> None:
    for statement in render_schema(LEGACY_18, "db", "web"):
        assert re.search(r"^\s*(CREATE|INSERT)\b", statement)
