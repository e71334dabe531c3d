"""The embedded DuckDB store, the default sink.

Writes are columnar: the batch's Arrow table is registered with the
connection and copied with one `INSERT ... SELECT` that casts each column to
its store type (one statement, so one transaction). Nothing goes row by row.

Deduplication by row id (`Table.key`), without a primary key: a PRIMARY KEY
with INSERT OR IGNORE cost 26-29% of insert throughput in
bench/duckdb_sink_insert.py (10k-row batches into 1M rows), this anti-join
7-13%. So the tables have no index, and each write skips the rows whose key is
already stored with `created_at >= min(created_at of the batch) -
DEDUP_WINDOW`. Rows arrive roughly in time order, so DuckDB's zone maps on
`created_at` limit that probe to the newest row groups instead of the whole
table (and the batch's id range narrows it further when ids are time-ordered
UUIDv7). Guarantees:

- a replay of the log (the same row, with the same `created_at`) is always
  absorbed, however old it is: the stored copy lies inside the window;
- a client retry of the same id (a new row with a later `created_at`) is
  absorbed when it is stored at most DEDUP_WINDOW after the stored copy's
  `created_at`; a retry arriving later than that may be stored a second time;
- the same key twice in one batch is stored once (the first occurrence).

Payments also add to `ltv` (per vid, uid and orid, per currency) in the same
transaction as the rows that were actually new, so replays never count twice.

Errors: data the store refuses (conversion, constraint, invalid input,
binder errors on the batch's values) raise PermanentError; everything else
(IO, locks, memory, a dropped table) raises RetryableError and drops the
connection, so the next `write` reconnects and reloads the schema.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tracker.model.tables import PAYMENTS, TABLES, Table
from tracker.model.values import row_dict
from tracker.sinks.base import Batch, PermanentError, RetryableError
from tracker.sinks.duckdb_schema import SQL_TYPES, load_schema, model_mismatches

# How far back before the oldest row of a batch an id is looked for. Two days
# absorbs client retries from devices that were offline for a day, and keeps
# the probe to a few row groups at any realistic event rate.
DEDUP_WINDOW = timedelta(days=2)
_WINDOW_MS = DEDUP_WINDOW // timedelta(milliseconds=1)
# Below DuckDB's TIMESTAMP range (microseconds in an int64); no storable row is older.
_OLDEST_MS = -9_000_000_000_000_000

# The sink checkpoints itself after this many rows (one DuckDB row group):
# measured here, checkpointing on DuckDB's default 16 MB WAL threshold (about
# 40k events) cut throughput from ~230k to ~100k rows/s, as each checkpoint
# recompresses the partly filled last row group again. WAL_CHECKPOINT_LIMIT
# stays as DuckDB's own backstop for batches of very wide rows.
CHECKPOINT_ROWS = 122_880
WAL_CHECKPOINT_LIMIT = "256MB"

# The name the batch's Arrow table is registered under while it is copied.
_BATCH_VIEW = "tracker_batch_in"

# Errors caused by the values of a batch: retrying the same rows cannot help.
_DATA_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.DataError,  # ConversionException, OutOfRangeException, TypeMismatchException
    duckdb.IntegrityError,  # ConstraintException (NOT NULL, CHECK)
    duckdb.InvalidInputException,
    duckdb.BinderException,
)

_LTV_UPSERT = """
INSERT INTO ltv (id_type, id, amt, currency, updated_at)
SELECT id_type, id, sum(amt), currency, max(created_at)
FROM (
    SELECT 'vid' AS id_type, CAST(vid AS VARCHAR) AS id, amt,
           coalesce(currency, '') AS currency, created_at
    FROM tracker_new_payments WHERE vid IS NOT NULL
    UNION ALL
    SELECT 'uid', uid, amt, coalesce(currency, ''), created_at
    FROM tracker_new_payments WHERE uid IS NOT NULL
    UNION ALL
    SELECT 'orid', orid, amt, coalesce(currency, ''), created_at
    FROM tracker_new_payments WHERE orid IS NOT NULL
)
GROUP BY id_type, id, currency
ON CONFLICT (id_type, id, currency) DO UPDATE SET
    amt = ltv.amt + excluded.amt,
    updated_at = greatest(ltv.updated_at, excluded.updated_at)
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_list(table: Table) -> str:
    return ", ".join(_quote(c.name) for c in table.columns)


def insert_query(table: Table, source: str) -> str:
    """INSERT the new rows of `source` into `table` (see `new_rows_query`)."""
    columns = _column_list(table)
    return f"INSERT INTO {_quote(table.name)} ({columns}) {new_rows_query(table, source)}"


def new_rows_query(table: Table, source: str) -> str:
    """SELECT the rows of `source` cast to `table`'s types, minus ids already stored.

    Parameters (see `probe_bounds`): the lower bound of `created_at` to look
    for ids at, in epoch milliseconds, then the smallest and largest id of the
    batch. Both are constants to DuckDB (it folds `epoch_ms(?)`), so the zone
    maps prune the probe: by time always, and by id too when ids are
    time-ordered (UUIDv7, as the server makes them).
    """
    casts = ", ".join(
        f"CAST({_quote(c.name)} AS {SQL_TYPES[c.kind]}) AS {_quote(c.name)}" for c in table.columns
    )
    key, time = _quote(table.key), _quote(table.time_column)
    key_type = SQL_TYPES[table.columns[table.column_names.index(table.key)].kind]
    return (
        f"SELECT b.* FROM (SELECT {casts} FROM {source}) AS b "
        f"WHERE NOT EXISTS (SELECT 1 FROM {_quote(table.name)} AS t "
        f"WHERE t.{key} = b.{key} AND t.{time} >= epoch_ms(CAST(? AS BIGINT)) "
        f"AND t.{key} BETWEEN CAST(? AS {key_type}) AND CAST(? AS {key_type}))"
    )


def dedup_in_batch(arrow: pa.Table, key: str) -> pa.Table:
    """Keep the first row of each key; the common case (no duplicate) costs one count."""
    keys = arrow.column(key)
    if pc.count_distinct(keys, mode="all").as_py() == arrow.num_rows:
        return arrow
    indexed = arrow.append_column("__row", pa.array(range(arrow.num_rows), pa.int64()))
    first = indexed.group_by(key, use_threads=False).aggregate([("__row", "min")])
    rows = first.column("__row_min")
    return arrow.take(pc.take(rows, pc.sort_indices(rows)))


def is_data_error(exc: duckdb.Error) -> bool:
    """True when `exc` blames the batch's values rather than the store."""
    if "invalidated" in str(exc):
        # A fatal error invalidated the database; later statements can fail with
        # any class of error, and only a new connection helps.
        return False
    return isinstance(exc, _DATA_ERRORS)


def probe_bounds(arrow: pa.Table, table: Table) -> list[int | str | None]:
    """The parameters of `new_rows_query`: [oldest created_at - DEDUP_WINDOW, min id, max id].

    Times stay integers: a batch may hold timestamps Python's datetime cannot
    represent (DuckDB stores up to year 294247). Ids compare lowercased, as
    DuckDB orders UUIDs like their lowercase text.
    """
    column = arrow.column(table.time_column)
    if not pa.types.is_timestamp(column.type):
        raise PermanentError(f"{table.time_column} must be an Arrow timestamp, got {column.type}")
    if column.type.unit != "ms":
        column = column.cast(pa.timestamp("ms", tz=column.type.tz), safe=False)
    oldest = pc.min(column).value
    if oldest is None:
        oldest = 0  # all NULL: the NOT NULL constraint refuses the batch
    keys = arrow.column(table.key)
    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        keys = pc.utf8_lower(keys)
    bounds = pc.min_max(keys)
    return [max(oldest - _WINDOW_MS, _OLDEST_MS), bounds["min"].as_py(), bounds["max"].as_py()]


class DuckDBSink:
    """One DuckDB file, one connection owned by the shipper thread that drives the sink."""

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self._config: dict[str, str | int] = {}
        if threads is not None:
            self._config["threads"] = threads
        if memory_limit is not None:
            self._config["memory_limit"] = memory_limit
        self._insert_sql = {t.name: insert_query(t, _BATCH_VIEW) for t in TABLES}
        self._new_payments_to_temp = (
            "CREATE OR REPLACE TEMP TABLE tracker_new_payments AS "
            + new_rows_query(PAYMENTS, _BATCH_VIEW)
        )
        self._payments_from_temp = (
            f"INSERT INTO payments ({_column_list(PAYMENTS)}) SELECT * FROM tracker_new_payments"
        )
        self._con: duckdb.DuckDBPyConnection | None = None
        self._unflushed_rows = 0  # rows committed since the last checkpoint

    def open(self) -> None:
        """Connect (creating the directory) and load the schema; a no-op when open."""
        if self._con is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path), config=self._config)
        except (OSError, duckdb.Error) as exc:
            # Typically "Could not set lock": another process holds the file.
            raise RetryableError(f"{self.name}: cannot open {self.path}: {exc}") from exc
        try:
            con.execute(f"SET checkpoint_threshold = '{WAL_CHECKPOINT_LIMIT}'")
            # No progress bar: a slow insert would draw one on the server's console.
            con.execute("SET enable_progress_bar = false")
            load_schema(con)
            problems = model_mismatches(con)
        except duckdb.Error as exc:
            con.close()
            raise RetryableError(f"{self.name}: cannot load the schema: {exc}") from exc
        if problems:
            # Every batch would fail; retrying keeps the rows in the log until the
            # file is migrated, where a PermanentError would dead-letter them all.
            con.close()
            raise RetryableError(f"{self.name}: tables differ from the model: {problems}")
        self._con = con

    def write(self, batch: Batch) -> None:
        """Store the rows of `batch` whose id is not stored yet, in one transaction.

        Opens the connection first when needed, so a failed `open` (a lock held
        by another process) is retried by the shipper's retries of `write`.
        """
        if batch.num_rows == 0:
            return
        table = batch.table
        try:
            arrow = dedup_in_batch(batch.to_arrow(), table.key)
            params = probe_bounds(arrow, table)
        except pa.ArrowException as exc:
            raise PermanentError(f"{self.name}: {table.name}: {exc}") from exc
        self.open()
        con = self._con
        assert con is not None
        con.register(_BATCH_VIEW, arrow)
        try:
            if table is PAYMENTS:
                self._insert_payments(con, params)
            else:
                con.execute(self._insert_sql[table.name], params)
        except duckdb.Error as exc:
            if is_data_error(exc):
                raise PermanentError(f"{self.name}: {table.name}: {exc}") from exc
            self._drop_connection()
            raise RetryableError(f"{self.name}: {table.name}: {exc}") from exc
        finally:
            if self._con is not None:
                self._con.unregister(_BATCH_VIEW)
        self._unflushed_rows += arrow.num_rows
        if self._unflushed_rows >= CHECKPOINT_ROWS:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Move the WAL into the database file. The rows are committed already, so
        when this fails the shipper's retry of the batch is absorbed as a replay."""
        assert self._con is not None
        try:
            self._con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            self._drop_connection()
            raise RetryableError(f"{self.name}: checkpoint failed: {exc}") from exc
        self._unflushed_rows = 0

    def _insert_payments(
        self, con: duckdb.DuckDBPyConnection, params: list[int | str | None]
    ) -> None:
        """Insert the new payments and add exactly those to `ltv`, atomically."""
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(self._new_payments_to_temp, params)
            con.execute(self._payments_from_temp)
            con.execute(_LTV_UPSERT)
            con.execute("DROP TABLE tracker_new_payments")
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise

    def read_rows(self, table: Table, column: str, value: str,
                  limit: int) -> list[dict[str, Any]]:
        """ReadableSink: a cursor is a connection of its own to the same database,
        safe beside the writing thread."""
        if column not in table.column_names:
            raise ValueError(f"{table.name} has no column {column!r}")
        con = self._con
        if con is None:
            raise RetryableError(f"{self.name}: not open")
        try:
            cur = con.cursor()
            try:
                cur.execute(f'SELECT * FROM {table.name} WHERE "{column}" = ? '
                            f"ORDER BY {table.time_column} DESC LIMIT ?", [value, limit])
                names = [d[0] for d in cur.description]
                found = cur.fetchall()
            finally:
                cur.close()
        except duckdb.Error as exc:
            raise RetryableError(f"{self.name}: read failed: {exc}") from exc
        return [row_dict(table, names, values) for values in found]

    def close(self) -> None:
        """Checkpoint and close; safe to call twice."""
        con, self._con = self._con, None
        if con is None:
            return
        self._unflushed_rows = 0
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            # Nothing is lost: the rows are in DuckDB's own WAL, replayed on the next open.
            raise RetryableError(f"{self.name}: checkpoint on close failed: {exc}") from exc
        finally:
            con.close()

    def _drop_connection(self) -> None:
        """Forget a connection that may be unusable (a fatal error invalidates it)."""
        con, self._con = self._con, None
        if con is None:
            return
        with contextlib.suppress(duckdb.Error):  # already invalidated: nothing to release
            con.close()


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, keeping the error that caused it as the one reported."""
    with contextlib.suppress(duckdb.Error):  # unusable connection: the caller drops it
        con.execute("ROLLBACK")
