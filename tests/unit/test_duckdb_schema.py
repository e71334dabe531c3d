"""The DuckDB schema files and their loader."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tracker.model.tables import TABLES, Table
from tracker.sinks.duckdb_schema import (
    SQL_TYPES,
    current_version,
    load_schema,
    model_mismatches,
    schema_dir,
    schema_files,
)

REPO_SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "duckdb"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    yield c
    c.close()


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, bool]]:
    return [
        (name, dtype, nullable == "YES")
        for name, dtype, nullable in con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Everything a second load could change: objects, columns, seeds, versions."""
    objects = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables ORDER BY 1"
    ).fetchall()
    return {
        "objects": objects,
        "columns": {name: columns(con, name) for name, _ in objects},
        "views": con.execute("SELECT view_name, sql FROM duckdb_views() ORDER BY 1").fetchall(),
        "jurisdictions": con.execute("SELECT * FROM jurisdictions ORDER BY 1").fetchall(),
        "versions": con.execute("SELECT * FROM schema_version ORDER BY 1").fetchall(),
    }


def test_schema_dir_is_the_repository_copy() -> None:
    assert schema_dir() == REPO_SCHEMA


def test_files_are_numbered_in_order() -> None:
    files = schema_files()
    assert [v for v, _ in files] == [1, 2, 3, 4, 5]
    assert files[0][1].name == "001_events.sql"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_table_columns_match_the_model(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    load_schema(con)
    expected = [(c.name, SQL_TYPES[c.kind], c.nullable) for c in table.columns]
    assert columns(con, table.name) == expected


def test_a_table_from_an_older_layout_is_reported(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE agreements (aid UUID NOT NULL, created_at TIMESTAMP NOT NULL)")
    load_schema(con)  # IF NOT EXISTS leaves it as it is
    problems = model_mismatches(con)
    assert len(problems) == 1 and problems[0].startswith("agreements:")


def test_load_twice_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    assert current_version(con) is None
    assert load_schema(con) == 5
    before = snapshot(con)
    assert load_schema(con) == 5
    assert snapshot(con) == before
    assert [v for v, _ in before["versions"]] == [1, 2, 3, 4, 5]
    assert current_version(con) == 5


def test_every_table_and_view_exists(con: duckdb.DuckDBPyConnection) -> None:
    load_schema(con)
    kinds = dict(
        con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall()
    )
    for name in ("events", "payments", "ltv", "agreements", "jurisdictions",
                 "redirect_history", "schema_version"):  # fmt: skip
        assert kinds[name] == "BASE TABLE"
    for name in ("visitors", "sessions", "dailies", "referrers", "outcomes", "hits",
                 "redirects"):  # fmt: skip
        assert kinds[name] == "VIEW"


def test_a_dropped_view_comes_back(con: duckdb.DuckDBPyConnection) -> None:
    load_schema(con)
    con.execute("DROP VIEW hits")
    load_schema(con)
    assert con.execute("SELECT count(*) FROM hits").fetchone() == (0,)


def test_jurisdictions_are_seeded(con: duckdb.DuckDBPyConnection) -> None:
    load_schema(con)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT regulation, countries, regions, requires_consent, json_valid(rules)"
            " FROM jurisdictions"
        ).fetchall()
    }
    assert {"GDPR", "UK_GDPR", "CCPA", "LGPD", "PIPEDA"} <= rows.keys()
    gdpr_countries = rows["GDPR"][0]
    assert len(gdpr_countries) == 30  # 27 EU members + Iceland, Liechtenstein, Norway
    assert {"DE", "FR", "IE", "NO", "IS", "LI"} <= set(gdpr_countries)
    assert "GB" not in gdpr_countries
    assert rows["UK_GDPR"][:2] == (["GB"], [])
    assert rows["CCPA"][:2] == (["US"], ["US-CA"])
    assert rows["LGPD"][0] == ["BR"]
    assert rows["PIPEDA"][0] == ["CA"]
    assert rows["GDPR"][2] is True and rows["CCPA"][2] is False
    assert all(valid for *_, valid in rows.values())


def test_operator_edits_to_seeds_survive_a_reload(con: duckdb.DuckDBPyConnection) -> None:
    load_schema(con)
    con.execute("UPDATE jurisdictions SET requires_consent = false WHERE regulation = 'GDPR'")
    load_schema(con)
    assert con.execute(
        "SELECT requires_consent FROM jurisdictions WHERE regulation = 'GDPR'"
    ).fetchone() == (False,)


def test_ltv_key(con: duckdb.DuckDBPyConnection) -> None:
    load_schema(con)
    con.execute("INSERT INTO ltv VALUES ('vid', 'a', 1, 'EUR', now()::TIMESTAMP)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO ltv VALUES ('vid', 'a', 2, 'EUR', now()::TIMESTAMP)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO ltv VALUES ('email', 'a', 2, 'EUR', now()::TIMESTAMP)")


def test_redirects_are_the_newest_change_per_link_unless_deleted(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_schema(con)
    changes = [  # (hid, seconds, urlfrom, urlto, action)
        ("00000000-0000-7000-8000-000000000001", 1, "https://s.io/a", "https://x.io/1", "create"),
        ("00000000-0000-7000-8000-000000000002", 2, "https://s.io/a", "https://x.io/2", "update"),
        ("00000000-0000-7000-8000-000000000003", 3, "https://s.io/b", "https://x.io/3", "create"),
        ("00000000-0000-7000-8000-000000000004", 4, "https://s.io/b", None, "delete"),
        ("00000000-0000-7000-8000-000000000005", 5, "https://s.io/c", "https://x.io/5", "create"),
        ("00000000-0000-7000-8000-000000000006", 6, "https://s.io/c", None, "delete"),
        ("00000000-0000-7000-8000-000000000007", 7, "https://s.io/c", "https://x.io/7", "create"),
    ]
    for hid, sec, urlfrom, urlto, action in changes:
        con.execute("INSERT INTO redirect_history VALUES (?, to_timestamp(?)::TIMESTAMP, ?,"
                    " 's.io', ?, NULL, ?)", [hid, sec, urlfrom, urlto, action])
    rows = con.execute("SELECT urlfrom, urlto, epoch(created_at), epoch(updated_at)"
                       " FROM redirects ORDER BY urlfrom").fetchall()
    assert rows == [("https://s.io/a", "https://x.io/2", 1, 2),
                    ("https://s.io/c", "https://x.io/7", 7, 7)]


def test_a_failing_file_rolls_the_whole_load_back(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE IF NOT EXISTS a (x INTEGER);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE b (x NOSUCHTYPE);")
    with pytest.raises(duckdb.Error):
        load_schema(con, tmp_path)
    assert current_version(con) is None
    assert con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'a'"
    ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["001_a.sql", "1_b.sql"], "two schema files with version 1"),
        (["events.sql"], "not NNN_name.sql"),
        ([], "no schema files"),
    ],
)
def test_bad_schema_directories_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        schema_files(tmp_path)
