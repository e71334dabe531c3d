"""The stores the conformance suite runs against: one SinkFactory entry each.

Adding a store = one more entry in SINK_FACTORIES. A store that needs a server
starts it lazily from its callables (e.g. one per session, a database per test
directory) and can carry pytest marks (e.g. `pytest.mark.integration`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tests.conformance.harness import SinkFactory, normalize_row
from tracker.model.tables import TABLES_BY_NAME
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

SINK_FACTORIES: list[SinkFactory] = [DUCKDB]
