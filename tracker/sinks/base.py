"""The one protocol every store implements, and the errors that steer retries.

A sink is driven by exactly one shipper thread: `open`, then any number of
`write` calls, then `close`. `write` may be called again with rows it has
already stored (after a crash or a retry): the sink must store each row id
(`Table.key`) at most once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tracker.model.tables import Table

if TYPE_CHECKING:  # only the shipper loads pyarrow; workers import this module too
    import pyarrow as pa


class Batch(Protocol):
    """A frozen set of rows of one table, held as column buffers (tracker._fast.columns)."""

    table: Table

    @property
    def num_rows(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    def to_arrow(self) -> pa.Table:
        """Columns in `table.columns` order; uuid/json/decimal as strings, ts as timestamp[ms]."""

    def slice(self, start: int, stop: int) -> Batch:
        """Rows [start, stop) as a new batch (used to bisect a poison row)."""

    def rows(self) -> list[dict[str, Any]]:
        """The rows back as dicts (dead letters, tests)."""


class SinkError(Exception):
    """Base of the errors a sink raises from `write`."""


class RetryableError(SinkError):
    """The store is unreachable or overloaded: keep the batch, back off, retry."""


class PermanentError(SinkError):
    """The batch (or a row in it) can never be stored as it is.

    The shipper bisects the batch to find the offending rows and sends them to
    the dead-letter file; the rest is written.
    """


@runtime_checkable
class Sink(Protocol):
    """A store. It takes every model table, unless it has a `tables` attribute
    (a tuple of tracker.model.tables.Table): then it is given only those."""

    name: str

    def open(self) -> None:
        """Connect and make sure every table exists (idempotent)."""

    def write(self, batch: Batch) -> None:
        """Store `batch` idempotently by its table's row id (`batch.table.key`)."""

    def close(self) -> None:
        """Flush and release everything; safe to call twice."""


@runtime_checkable
class ReadableSink(Protocol):
    """A sink that can also answer the few reads routes need (consent history, ...).

    Called from another thread than the one writing: implementations use a
    connection of their own. Values come back in row-dict form (uuid as text,
    ts as int milliseconds, json parsed, decimal as text).
    """

    def read_rows(self, table: Table, column: str, value: str,
                  limit: int) -> list[dict[str, Any]]:
        """Rows of `table` whose `column` equals `value`, newest first."""
