"""Loads the DuckDB schema: the numbered SQL files of `schema/duckdb/`, in order.

Every file is idempotent (CREATE ... IF NOT EXISTS, CREATE OR REPLACE VIEW,
INSERT ... ON CONFLICT DO NOTHING), so the loader simply runs all of them on
every load, in one transaction, and records each file's number in
`schema_version` the first time it is applied. Running everything each time
also repairs a dropped view. A future non-idempotent migration must guard
itself (or the loader must learn to skip recorded versions).

Where the files live: the canonical copy is `schema/duckdb/` at the repository
root, next to the `tracker` package; that is what a source checkout and an
editable install use. A wheel must ship them inside the package, as
`tracker/_schema/duckdb/` (copied there at build time); the loader looks there
first. An explicit directory always wins.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tracker.model.tables import TABLES, Kind
from tracker.sinks.schema_files import numbered_sql_files, store_schema_dir

# The store type of each column kind; 001-003 spell these out by hand.
SQL_TYPES: dict[Kind, str] = {
    Kind.UUID: "UUID",
    Kind.STR: "VARCHAR",
    Kind.INT: "BIGINT",
    Kind.FLOAT: "DOUBLE",
    Kind.BOOL: "BOOLEAN",
    Kind.TIMESTAMP_MS: "TIMESTAMP",
    Kind.JSON: "JSON",
    Kind.DECIMAL: "DECIMAL(18,4)",
}


_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER   PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL
)
"""


def schema_dir() -> Path:
    """The directory holding the DuckDB SQL files (package data, else the repo's)."""
    return store_schema_dir("duckdb")


def schema_files(directory: Path | None = None) -> list[tuple[int, Path]]:
    """`(version, path)` of every `NNN_name.sql` file, by version."""
    return numbered_sql_files(schema_dir() if directory is None else directory)


def load_schema(con: duckdb.DuckDBPyConnection, directory: Path | None = None) -> int:
    """Create or update every table and view; return the schema version now in place."""
    files = schema_files(directory)
    now = datetime.now(UTC).replace(tzinfo=None)  # TIMESTAMP columns hold naive UTC
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_VERSION_TABLE)
        for version, path in files:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?) ON CONFLICT DO NOTHING",
                [version, now],
            )
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # report the error that made the load fail
            con.execute("ROLLBACK")
        raise
    return files[-1][0]


def model_mismatches(con: duckdb.DuckDBPyConnection) -> list[str]:
    """How the stored tables differ from tracker/model/tables.py (empty when they match).

    CREATE TABLE IF NOT EXISTS leaves a table made by an older version as it
    was, so a sink checks this before writing rather than failing every batch.
    """
    problems = []
    for table in TABLES:
        stored = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = ? ORDER BY ordinal_position",
            [table.name],
        ).fetchall()
        expected = [(c.name, SQL_TYPES[c.kind]) for c in table.columns]
        if stored != expected:
            problems.append(f"{table.name}: stored {stored}, model {expected}")
    return problems


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The highest applied schema version, or None when no schema was loaded."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return None if row is None else row[0]
