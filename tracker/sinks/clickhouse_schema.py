"""Loads the ClickHouse schema: the numbered template files of `schema/clickhouse/`.

One set of files serves every server generation and topology. They are
templates: `{{name}}` or `{{name:argument}}` placeholders that `render_schema`
fills for the server's `Features` and the topology:

| placeholder | old server (18.x) | current server |
|---|---|---|
| `{{ts}}`, `{{ts_null}}` | `Int64` ms (no DateTime64) | `DateTime64(3, 'UTC')` |
| `{{lc}}`, `{{lc_null}}` | `String` (LowCardinality is experimental) | `LowCardinality(String)` |
| `{{datetime:x}}` | `toDateTime(intDiv(x, 1000), 'UTC')` | `x` |
| `{{ms:x}}` | `x` | `toUnixTimestamp64Milli(x)` |

A `ts` column holds the same Int64 milliseconds either way (DateTime64(3) is
an Int64 of ms on disk and on the wire), so rows and Native blocks differ only
in the type name. Nullable variants wrap accordingly.

Topology placeholders: `{{db}}` the database; `{{table:t}}` the table that
stores rows (`db.t`, or `db.t_local` in cluster mode); `{{on_cluster}}`;
`{{replacing:t}}` / `{{merge_tree:t}}` the engine (`Replicated*` with a
ZooKeeper path when replicated); `{{distributed:t:key}}` a whole statement,
in cluster mode the `Distributed` table `db.t` over `t_local` sharded by `key`,
else nothing. See CLUSTER.md for the topologies.

Every statement is idempotent (IF NOT EXISTS, seeds guarded by NOT IN), so
the loader runs all of them on every load, which also repairs a dropped view,
and records each file's number in `schema_version` the first time. A future
non-idempotent migration must guard itself. TTL is not emitted: retention is
`tracker prune`'s business; `Features.ttl` says whether a server could.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tracker.model.tables import TABLES, Column, Kind, Table
from tracker.sinks.schema_files import numbered_sql_files, store_schema_dir


class QueryClient(Protocol):
    """What the loader needs: clickhouse-driver's `Client.execute` shape."""

    def execute(self, query: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class Features:
    """What the server can do, as far as the schema cares."""

    version: tuple[int, ...]
    datetime64: bool  # DateTime64 (20.1+)
    low_cardinality: bool  # LowCardinality without experimental settings (19.x+)
    ttl: bool  # table TTL (19.6+); unused by the schema, for pruning


LEGACY_18 = Features((18, 16, 1), datetime64=False, low_cardinality=False, ttl=False)
MODERN = Features((26, 9), datetime64=True, low_cardinality=True, ttl=True)

# Columns stored as LowCardinality where the server has it: few distinct values.
LOW_CARDINALITY: dict[str, frozenset[str]] = {
    "events": frozenset(
        {"ename", "etyp", "host", "currency", "source", "medium"}
        | {"tz", "lang", "device", "os", "browser", "country"}
    ),
    "payments": frozenset({"currency"}),
    "agreements": frozenset({"country", "lang"}),
    "redirect_history": frozenset({"action"}),
}

_BASE_TYPES: dict[Kind, str] = {
    Kind.UUID: "UUID",
    Kind.STR: "String",
    Kind.INT: "Int64",
    Kind.FLOAT: "Float64",
    Kind.BOOL: "UInt8",
    Kind.JSON: "String",
    Kind.DECIMAL: "Decimal(18, 4)",
}

_PLACEHOLDER = re.compile(r"\{\{([a-z_0-9]+)(?::([^{}]*))?\}\}")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_SPACES = re.compile(r" {2,}")
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


# -- column types ----------------------------------------------------------------


def column_type(table: Table, column: Column, features: Features) -> str:
    """The ClickHouse type of a model column on a server with `features`."""
    if column.kind is Kind.TIMESTAMP_MS:
        base = "DateTime64(3, 'UTC')" if features.datetime64 else "Int64"
    else:
        base = _BASE_TYPES[column.kind]
    low = features.low_cardinality and column.name in LOW_CARDINALITY.get(table.name, ())
    if low and column.nullable:
        return f"LowCardinality(Nullable({base}))"
    if low:
        return f"LowCardinality({base})"
    return f"Nullable({base})" if column.nullable else base


def column_types(features: Features) -> dict[str, list[tuple[str, str]]]:
    """`(name, type)` of every model table's columns, in order, for `features`."""
    return {
        t.name: [(c.name, column_type(t, c, features)) for c in t.columns] for t in TABLES
    }


def target_table(name: str, cluster: str | None = None) -> str:
    """The table a sink inserts a logical table's rows into.

    Always the logical name: in cluster mode that is the Distributed table,
    which routes each row to its shard by the hash of vid.
    """
    del cluster  # the same name in both modes; the parameter documents the choice
    return name


# -- files -------------------------------------------------------------------------


def schema_dir() -> Path:
    """The directory holding the ClickHouse SQL files (package data, else the repo's)."""
    return store_schema_dir("clickhouse")


def schema_files(directory: Path | None = None) -> list[tuple[int, Path]]:
    """`(version, path)` of every `NNN_name.sql` file, by version."""
    return numbered_sql_files(schema_dir() if directory is None else directory)


# -- rendering -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """Everything a placeholder's value depends on."""

    features: Features
    database: str
    cluster: str | None
    replicated: bool
    on_cluster: bool

    def fill(self, match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        handler = _HANDLERS.get(name)
        if handler is None:
            raise ValueError(f"unknown schema placeholder {match.group(0)}")
        return handler(self, arg or "")

    def table(self, name: str) -> str:
        return f"{self.database}.{name}_local" if self.cluster else f"{self.database}.{name}"

    def on_cluster_clause(self) -> str:
        return f"ON CLUSTER '{self.cluster}'" if self.cluster and self.on_cluster else ""

    def engine(self, family: str, name: str) -> str:
        if not self.replicated:
            return f"{family}()"
        path = f"/clickhouse/tables/{{shard}}/{self.database}/{name}_local"
        return f"Replicated{family}('{path}', '{{replica}}')"

    def distributed(self, arg: str) -> str:
        name, _, key = arg.partition(":")
        if not key:
            raise ValueError(f"{{{{distributed:{arg}}}}} needs a table and a sharding key")
        if not self.cluster:
            return ""
        db = self.database
        return (
            f"CREATE TABLE IF NOT EXISTS {db}.{name} {self.on_cluster_clause()}"
            f" AS {db}.{name}_local"
            f" ENGINE = Distributed('{self.cluster}', '{db}', '{name}_local', {key})"
        )

    def ts(self, nullable: bool) -> str:
        base = "DateTime64(3, 'UTC')" if self.features.datetime64 else "Int64"
        return f"Nullable({base})" if nullable else base

    def datetime(self, expr: str) -> str:
        """A ts expression as a date-time in UTC (for toDate, toYYYYMM)."""
        if self.features.datetime64:
            return expr
        return f"toDateTime(intDiv({expr}, 1000), 'UTC')"

    def lc(self, nullable: bool) -> str:
        base = "Nullable(String)" if nullable else "String"
        return f"LowCardinality({base})" if self.features.low_cardinality else base


_HANDLERS: dict[str, Callable[[_Target, str], str]] = {
    "db": lambda t, _: t.database,
    "on_cluster": lambda t, _: t.on_cluster_clause(),
    "table": lambda t, arg: t.table(arg),
    "replacing": lambda t, arg: t.engine("ReplacingMergeTree", arg),
    "merge_tree": lambda t, arg: t.engine("MergeTree", arg),
    "distributed": lambda t, arg: t.distributed(arg),
    "ts": lambda t, _: t.ts(nullable=False),
    "ts_null": lambda t, _: t.ts(nullable=True),
    "lc": lambda t, _: t.lc(nullable=False),
    "lc_null": lambda t, _: t.lc(nullable=True),
    "datetime": lambda t, arg: t.datetime(arg),
    "ms": lambda t, arg: f"toUnixTimestamp64Milli({arg})" if t.features.datetime64 else arg,
}


def _without_comment_lines(text: str) -> str:
    """The template without its whole-line `--` comments (which may mention placeholders)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def _statements(text: str) -> list[str]:
    """Split on `;` at line ends; drop empty pieces (a placeholder that rendered to nothing)."""
    out = []
    for piece in _STATEMENT_END.split(text):
        # An empty {{on_cluster}} leaves a double space in a CREATE line.
        lines = [
            _SPACES.sub(" ", line) if line.startswith("CREATE") else line
            for line in piece.strip().splitlines()
        ]
        if lines:
            out.append("\n".join(lines))
    return out


def render_schema(
    features: Features,
    database: str,
    cluster: str | None = None,
    replicated: bool = False,
    *,
    on_cluster: bool | None = None,
    directory: Path | None = None,
) -> list[str]:
    """Every DDL statement of the schema, in order, for one server and topology.

    `cluster`: None for one node; else local `*_local` tables plus Distributed
    tables under the logical names. `replicated`: Replicated* engines (needs
    ZooKeeper/Keeper). `on_cluster`: add ON CLUSTER to the DDL (needs
    ZooKeeper/Keeper too; default: when `cluster` is set); without it the
    statements create the objects on the connected node only.
    """
    return [s for _, s in _render(features, database, cluster, replicated, on_cluster, directory)]


def _render(
    features: Features,
    database: str,
    cluster: str | None,
    replicated: bool,
    on_cluster: bool | None,
    directory: Path | None,
) -> list[tuple[int, str]]:
    """`(file version, statement)` pairs; version 0 for the loader's own statements."""
    if not _DATABASE_NAME.match(database):
        raise ValueError(f"database name must be a plain identifier: {database!r}")
    if cluster is not None and not _CLUSTER_NAME.match(cluster):
        raise ValueError(f"cluster name has unexpected characters: {cluster!r}")
    if replicated and not cluster:
        raise ValueError("replicated tables need a cluster")
    target = _Target(
        features, database, cluster, replicated,
        on_cluster=bool(cluster) if on_cluster is None else on_cluster,
    )
    on = target.on_cluster_clause()
    # The version table is per node: it records what the loader applied from there.
    out = [
        (0, f"CREATE DATABASE IF NOT EXISTS {database} {on}".strip()),
        (
            0,
            f"CREATE TABLE IF NOT EXISTS {database}.schema_version"
            " (version UInt32, applied_at DateTime)"
            " ENGINE = ReplacingMergeTree() ORDER BY version",
        ),
    ]
    for version, path in schema_files(directory):
        template = _without_comment_lines(path.read_text(encoding="utf-8"))
        text = _PLACEHOLDER.sub(target.fill, template)
        out.extend((version, s) for s in _statements(text))
    return out


# -- the server ------------------------------------------------------------------------


def _answers(client: QueryClient, query: str) -> bool:
    """True when the server runs `query` without an error."""
    try:
        client.execute(query)
    except Exception:  # any refusal (unknown function/table, no ZooKeeper) means "no"
        return False
    return True


def parse_version(text: str) -> tuple[int, ...]:
    """`'18.16.1'` -> (18, 16, 1); extra parts and suffixes are ignored."""
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def detect_features(client: QueryClient) -> Features:
    """Ask the server what it supports (version, then probes where one is possible)."""
    version = parse_version(str(client.execute("SELECT version()")[0][0]))
    # Probed only where it can succeed: a failed probe is an error in the server log.
    datetime64 = version >= (20,) and _answers(client, "SELECT toTypeName(toDateTime64(0, 3))")
    # 18.x has LowCardinality behind allow_experimental_low_cardinality_type=0;
    # the setting defaults to 1 from 19.x and is gone in current releases.
    flag = client.execute(
        "SELECT value FROM system.settings"
        " WHERE name = 'allow_experimental_low_cardinality_type'"
    )
    low_cardinality = str(flag[0][0]) == "1" if flag else version >= (19,)
    return Features(version, datetime64, low_cardinality, ttl=version >= (19, 6))


def has_zookeeper(client: QueryClient) -> bool:
    """True when the server has ZooKeeper/Keeper (Replicated* and ON CLUSTER need it)."""
    return _answers(client, "SELECT count() FROM system.zookeeper WHERE path = '/'")


def load_schema(
    client: QueryClient,
    database: str,
    *,
    cluster: str | None = None,
    features: Features | None = None,
    replicated: bool | None = None,
    directory: Path | None = None,
) -> int:
    """Create or update every table and view; return the schema version now in place.

    `features` default: detected. In cluster mode, `replicated` default: whether
    the server has ZooKeeper; DDL goes ON CLUSTER when it has, else it creates
    the objects on the connected node only (run the loader against every node).
    """
    features = detect_features(client) if features is None else features
    on_cluster = False
    if cluster:
        if cluster_shape(client, cluster) is None:
            raise ValueError(f"cluster {cluster!r} is not defined in the server's remote_servers")
        on_cluster = has_zookeeper(client)
        replicated = on_cluster if replicated is None else replicated
    statements = _render(features, database, cluster, bool(replicated), on_cluster, directory)
    for _, statement in statements:
        client.execute(statement)
    recorded = client.execute(f"SELECT version FROM {database}.schema_version")
    applied = {int(row[0]) for row in recorded}
    versions = sorted({v for v, _ in statements if v} - applied)
    for version in versions:
        client.execute(f"INSERT INTO {database}.schema_version SELECT {version}, now()")
    return statements[-1][0]


def cluster_shape(client: QueryClient, cluster: str) -> tuple[int, int] | None:
    """`(shards, max replicas per shard)` of a configured cluster, None if unknown."""
    if not _CLUSTER_NAME.match(cluster):
        raise ValueError(f"cluster name has unexpected characters: {cluster!r}")
    rows = client.execute(
        "SELECT uniqExact(shard_num), max(replica_num) FROM system.clusters"
        f" WHERE cluster = '{cluster}'"
    )
    if not rows or not rows[0][0]:
        return None
    return int(rows[0][0]), int(rows[0][1])


def model_mismatches(client: QueryClient, database: str, features: Features) -> list[str]:
    """How the stored model tables differ from what `features` calls for (empty: match).

    CREATE TABLE IF NOT EXISTS leaves a table made by an older version as it was.
    """
    if not _DATABASE_NAME.match(database):
        raise ValueError(f"database name must be a plain identifier: {database!r}")
    problems = []
    for name, expected in column_types(features).items():
        if not _exists(client, database, name):
            problems.append(f"{name}: missing")
            continue
        # DESCRIBE lists columns in table order on every release (18.x has no
        # system.columns.position).
        described = client.execute(f"DESCRIBE TABLE {database}.{name}")
        stored = [(str(row[0]), str(row[1])) for row in described]
        if stored != expected:
            problems.append(f"{name}: stored {stored}, model {expected}")
    return problems


def _exists(client: QueryClient, database: str, table: str) -> bool:
    rows = client.execute(
        f"SELECT count() FROM system.tables WHERE database = '{database}' AND name = '{table}'"
    )
    return bool(rows and rows[0][0])


def current_version(client: QueryClient, database: str) -> int | None:
    """The highest applied schema version, or None when no schema was loaded."""
    if not _DATABASE_NAME.match(database):
        raise ValueError(f"database name must be a plain identifier: {database!r}")
    if not _exists(client, database, "schema_version"):
        return None
    row = client.execute(f"SELECT max(version) FROM {database}.schema_version")
    return int(row[0][0]) if row and row[0][0] else None
