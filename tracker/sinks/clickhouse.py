"""The ClickHouse store: Native blocks over HTTP, deduplicated by the table engines.

`open` talks the native protocol (clickhouse-driver) for what is not a bulk
insert: it loads the schema (clickhouse_schema.py: creates the database and
picks the best form the server supports) and reads each target table's column
types from system.columns, because the Native encoder must write exactly the
types the server has (Nullable(...), LowCardinality(...), DateTime64(3) ...).

`write` encodes the batch with tracker._fast's Native encoder and POSTs it as
`INSERT INTO db.table (...) FORMAT Native` (clickhouse_http.py). A large batch
is cut into `lanes` parts sent at the same time on their own kept-alive
connections: one INSERT runs on one server thread, and the shipper waits for
it, so a second one in flight uses the second core; the next part is encoded
while the previous one is inserted. Measured (loadtest/clickhouse_drain.py,
18.16, 100k-row batches of events): two lanes cut the insert wall time by a
third.

Deduplication by row id: events, payments and agreements are
ReplacingMergeTree tables ordered by (day, row id), so a replayed row collapses
with its first copy on merge and queries with FINAL see it once. Within one
batch the same key is also sent once (the first occurrence). `ltv` is a view
over `payments FINAL` (schema/clickhouse/002_payments.sql), so replayed
payments cannot count twice. A batch that fails half-way (one part stored, the
other not) is retried whole: the stored part is a replay, absorbed the same way.

Errors (clickhouse_errors.py): values the encoder or the server refuses are
PermanentError, everything else RetryableError. Errors saying a table or
column is missing make the next `write` open again (re-create the schema,
re-read the columns).
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc
from clickhouse_driver import Client
from clickhouse_driver import errors as driver_errors

from tracker._fast import ColumnBatch, TableBuffer, encode_block
from tracker._fast.native_py import encode_block as encode_any_batch
from tracker._fast.native_types import plan_block
from tracker.model.tables import TABLES, Table
from tracker.model.values import row_dict
from tracker.sinks.base import Batch, PermanentError, RetryableError, SinkError
from tracker.sinks.clickhouse_errors import SchemaChanged, short_message
from tracker.sinks.clickhouse_http import HttpInserter
from tracker.sinks.clickhouse_schema import detect_features, load_schema, target_table

# What clickhouse-driver raises when the server is away or refuses a statement.
_DRIVER_ERRORS = (driver_errors.Error, OSError, EOFError)
# Below this many rows a batch goes as one INSERT: a part costs the server a
# fixed amount (files, marks, a merge later) that small inserts do not win back.
PARALLEL_MIN_ROWS = 20_000
LANES = 2


@dataclass(frozen=True, slots=True)
class Target:
    """Where one logical table's batches go: the INSERT and the server's column types."""

    query: str
    columns: tuple[tuple[str, str], ...]  # (name, ClickHouse type), in table.columns order


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def insert_query(database: str, table: str, columns: list[str]) -> str:
    names = ", ".join(quote(c) for c in columns)
    return f"INSERT INTO {quote(database)}.{quote(table)} ({names}) FORMAT Native"


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_compression(host: str) -> str:
    """No compression to a server on this machine (it would only burn CPU on both
    ends: measured equal insert times, +0.3 us/event on the shipper), LZ4 over a
    network (events compress about 4x)."""
    return "none" if is_loopback(host) else "lz4"


def first_of_each_key(batch: Batch) -> Batch:
    """`batch` without repeated row ids (the first row of each id stays).

    The common case, no repeat, costs one hash pass over the key column; a
    batch with repeats is rebuilt from its rows (rare: a client sending the
    same id twice within one batch window).
    """
    key = batch.table.key
    keys = batch.to_arrow().column(key)
    if len(pc.unique(keys)) == batch.num_rows:
        return batch
    seen: set[Any] = set()
    kept = []
    for row in batch.rows():
        if row.get(key) not in seen:
            seen.add(row.get(key))
            kept.append(row)
    buffer = TableBuffer(batch.table)
    buffer.extend(kept)
    return buffer.take()


def split(batch: Batch, parts: int) -> list[Batch]:
    n = batch.num_rows
    if parts <= 1 or n < PARALLEL_MIN_ROWS:
        return [batch]
    bounds = [n * i // parts for i in range(parts + 1)]
    return [batch.slice(bounds[i], bounds[i + 1]) for i in range(parts)]


class ClickHouseSink:
    """One ClickHouse server (or a cluster's entry node), `lanes` HTTP connections."""

    def __init__(
        self,
        name: str,
        options: dict[str, Any],
        *,
        compression: str | None = None,
        lanes: int = LANES,
        connect_timeout: float = 10.0,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.host = str(options.get("Host") or "localhost")
        self.port = int(options.get("Port") or 9000)
        self.http_port = int(options.get("HttpPort") or 8123)
        self.database = str(options.get("Database") or "tracker")
        self.cluster = options.get("Cluster") or None
        self.secure = bool(options.get("Secure", False))
        self._user = str(options.get("User") or "default")
        self._password = str(options.get("Password") or "")
        self.connect_timeout, self.timeout = connect_timeout, timeout
        self.compression = compression or default_compression(self.host)
        self._lanes = [
            HttpInserter(self.host, self.http_port, user=self._user, password=self._password,
                         secure=self.secure, compression=self.compression,
                         connect_timeout=connect_timeout, timeout=timeout)
            for _ in range(max(1, lanes))
        ]
        self._pool: ThreadPoolExecutor | None = None
        self._targets: dict[str, Target] = {}
        # clickhouse-driver logs each failed connect as a WARNING with a traceback;
        # the sink reports it as a RetryableError, which the shipper logs once per outage.
        logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)

    # -- opening -----------------------------------------------------------------

    def client(self, database: str = "default") -> Client:
        """A native-protocol client for DDL and queries (the caller disconnects it)."""
        return Client(self.host, port=self.port, database=database, user=self._user,
                      password=self._password, secure=self.secure,
                      connect_timeout=self.connect_timeout,
                      send_receive_timeout=self.timeout, client_name="tracker")

    def read_rows(self, table: Table, column: str, value: str,
                  limit: int) -> list[dict[str, Any]]:
        """ReadableSink: with FINAL, so replayed rows show once; a client of its own."""
        if column not in table.column_names:
            raise ValueError(f"{table.name} has no column {column!r}")
        client = self.client(self.database)
        try:
            found, types = client.execute(
                f"SELECT * FROM {target_table(table.name, self.cluster)} FINAL "
                f"WHERE toString({column}) = %(value)s "
                f"ORDER BY {table.time_column} DESC LIMIT {int(limit)}",
                {"value": value}, with_column_types=True)
        except (driver_errors.Error, OSError, EOFError) as exc:
            reason = short_message(str(exc).encode())
            raise RetryableError(f"{self.name}: read failed: {reason}") from exc
        finally:
            client.disconnect()
        names = [name for name, _ in types]
        return [row_dict(table, names, row) for row in found]

    def open(self) -> None:
        """Create the database and tables when missing, read their columns; a no-op when open."""
        if self._targets:
            return
        client = self.client()
        try:
            features = detect_features(client)
            load_schema(client, self.database, cluster=self.cluster, features=features)
            targets = {t.name: self._target(client, t) for t in TABLES}
        except (*_DRIVER_ERRORS, ValueError) as exc:  # ValueError: e.g. an unknown cluster
            raise RetryableError(f"{self.name}: cannot load the schema: {_short(exc)}") from exc
        finally:
            client.disconnect()
        self._targets = targets

    def _target(self, client: Client, table: Table) -> Target:
        name = target_table(table.name, cluster=self.cluster)
        rows = client.execute(
            "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = %(t)s",
            {"db": self.database, "t": name})
        types = dict(rows)
        missing = [c for c in table.column_names if c not in types]
        if missing:
            # Every batch would fail; keep the rows in the log until the table is migrated.
            raise RetryableError(
                f"{self.name}: {self.database}.{name} lacks columns {', '.join(missing)}")
        columns = tuple((c, types[c]) for c in table.column_names)
        try:
            plan_block(table, columns)  # so that encoding errors can only be about values
        except ValueError as exc:
            raise RetryableError(f"{self.name}: {self.database}.{name}: {exc}") from exc
        return Target(insert_query(self.database, name, list(table.column_names)), columns)

    # -- writing -----------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Insert `batch`; replays collapse in the table engines.

        Opens first when needed, so a failed `open` (server down at start) is
        retried by the shipper's retries of `write`.
        """
        if batch.num_rows == 0:
            return
        table = batch.table
        self.open()
        target = self._targets[table.name]
        parts = split(first_of_each_key(batch), len(self._lanes))
        sent: list[Future[None]] = []
        error: SinkError | None = None
        try:
            for lane, part in zip(self._lanes, parts, strict=False):
                block = self._encode(part, target)
                if part is parts[-1]:
                    lane.insert(target.query, block)
                else:  # in flight while the next part is encoded
                    sent.append(self._executor().submit(lane.insert, target.query, block))
        except SinkError as exc:
            error = exc
        for future in sent:
            try:
                future.result()
            except SinkError as exc:
                # A server-side failure outranks refused values: retry everything.
                if error is None or isinstance(exc, RetryableError):
                    error = exc
        if error is None:
            return
        if isinstance(error, SchemaChanged):
            self._targets = {}  # re-create and re-read on the next write
        raise type(error)(f"{self.name}: {table.name}: {error}") from error

    def _encode(self, part: Batch, target: Target) -> bytes:
        # The compiled encoder reads the compiled buffers; any other Batch takes the twin.
        encode = encode_block if isinstance(part, ColumnBatch) else encode_any_batch
        try:
            return encode(part, target.columns)
        except (ValueError, OverflowError) as exc:
            # A value the server's column type cannot hold (e.g. a time out of range).
            raise PermanentError(_short(exc)) from exc

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(len(self._lanes) - 1, f"{self.name}-insert")
        return self._pool

    def close(self) -> None:
        """Drop the HTTP connections; safe to call twice (nothing is buffered here)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        for lane in self._lanes:
            lane.close()
        self._targets = {}


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."
