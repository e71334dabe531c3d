"""The seeded regulations: the Python data, its JSON, and the stores' seeds agree."""

import re
from pathlib import Path

import duckdb
import orjson

from tracker.consent import JURISDICTIONS, jurisdictions_json, seed_rows
from tracker.consent.jurisdictions import EU_EEA_COUNTRIES
from tracker.sinks.duckdb_schema import load_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema"
KEYS = ["regulation", "name", "countries", "regions", "requires_consent", "rules"]


def by_regulation() -> dict[str, dict]:
    return {j["regulation"]: j for j in jurisdictions_json()}


def test_required_regulations_and_places() -> None:
    jds = by_regulation()
    assert {"GDPR", "UK_GDPR", "CCPA", "LGPD", "PIPEDA"} <= jds.keys()
    assert len(set(EU_EEA_COUNTRIES)) == 30 and "GB" not in EU_EEA_COUNTRIES
    assert {"DE", "FR", "IE", "IS", "LI", "NO"} <= set(jds["GDPR"]["countries"])
    assert (jds["UK_GDPR"]["countries"], jds["UK_GDPR"]["regions"]) == (["GB"], [])
    assert (jds["CCPA"]["countries"], jds["CCPA"]["regions"]) == (["US"], ["US-CA"])
    assert jds["LGPD"]["countries"] == ["BR"]
    assert jds["PIPEDA"]["countries"] == ["CA"]
    assert jds["GDPR"]["requires_consent"] is True
    assert jds["CCPA"]["requires_consent"] is False


def test_json_shape_and_serializable() -> None:
    body = jurisdictions_json()
    assert all(list(j) == KEYS for j in body)
    assert orjson.loads(orjson.dumps(body)) == body
    assert by_regulation()["GDPR"]["rules"]["model"] == "opt-in"
    assert by_regulation()["CCPA"]["rules"]["opt_out_of"] == ["sale", "sharing"]


def test_json_is_a_fresh_copy() -> None:
    body = jurisdictions_json()
    body[0]["countries"].append("XX")
    body[0]["rules"]["rights"].append("anything")
    again = jurisdictions_json()
    assert "XX" not in again[0]["countries"]
    assert "anything" not in again[0]["rules"]["rights"]
    assert "XX" not in JURISDICTIONS[0].countries


def test_regulation_keys_are_unique() -> None:
    keys = [j.regulation for j in JURISDICTIONS]
    assert len(keys) == len(set(keys))


def test_duckdb_seed_equals_the_module() -> None:
    """Until seeding is generated from the module, the SQL seed must say the same."""
    con = duckdb.connect()
    try:
        load_schema(con)
        stored = con.execute("SELECT * FROM jurisdictions ORDER BY regulation").fetchall()
    finally:
        con.close()
    assert stored == sorted(seed_rows())


def test_clickhouse_seed_rules_equal_the_module() -> None:
    sql = (SCHEMA / "clickhouse" / "003_agreements.sql").read_text()
    seeded_rules = re.findall(r"'(\{\"model\".*?\})'", sql)
    assert sorted(seeded_rules) == sorted(row[5] for row in seed_rows())
    for row in seed_rows():
        assert f"'{row[0]}'" in sql and f"'{row[1]}'" in sql


def test_seed_rows_into_a_table() -> None:
    """The rows fit the table as the schema declares it (how seeding will use them)."""
    con = duckdb.connect()
    try:
        load_schema(con)
        con.execute("DELETE FROM jurisdictions")
        con.executemany("INSERT INTO jurisdictions VALUES (?, ?, ?, ?, ?, ?)", seed_rows())
        stored = con.execute(
            "SELECT regulation, countries, rules->>'model' FROM jurisdictions"
            " ORDER BY regulation").fetchall()
    finally:
        con.close()
    assert ("CCPA", ["US"], "opt-out") in stored and len(stored) == len(JURISDICTIONS)
