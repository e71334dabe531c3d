"""The logical tables every store holds: column names, kinds and row ids.

This is the one place the shape of a row is written down. The WAL carries rows
as JSON objects keyed by these column names; the shipper's column buffers, the
DuckDB schema (`schema/duckdb/`) and later stores are checked against it by tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a column's value travels in a row dict, and what it becomes in a store."""

    UUID = "uuid"  # canonical lowercase 8-4-4-4-12 text
    STR = "str"
    INT = "int"  # 64-bit signed
    FLOAT = "float"  # 64-bit IEEE
    BOOL = "bool"
    TIMESTAMP_MS = "ts"  # int milliseconds since the Unix epoch, UTC
    JSON = "json"  # any JSON value, stored as JSON text
    DECIMAL = "decimal"  # decimal amount, carried as a string ("12.50"), DECIMAL(18,4)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    """A logical table. `table_id` is its tag in WAL records; `key` its row id."""

    name: str
    table_id: int
    key: str
    time_column: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(spec: str) -> tuple[Column, ...]:
    """Parse 'name:kind[!]' words; '!' marks NOT NULL."""
    out = []
    for word in spec.split():
        name, kind = word.split(":")
        required = kind.endswith("!")
        out.append(Column(name, Kind(kind.rstrip("!")), nullable=not required))
    return tuple(out)


EVENTS = Table(
    name="events",
    table_id=1,
    key="eid",
    time_column="created_at",
    columns=_cols(
        """
        eid:uuid! created_at:ts! client_ts:ts
        vid:uuid sid:uuid uid:str oid:str tid:str
        ename:str etyp:str url:str host:str referrer:str
        xid:str split:str outcome:str score:float revenue:float currency:str
        source:str medium:str campaign:str content:str term:str
        tz:str lang:str device:str os:str browser:str vp_w:int vp_h:int bot:bool!
        ip:str iphash:str country:str region:str city:str lat:float lon:float
        ehash:str chash:str uhash:str
        cflags:int params:json
        """
    ),
)

PAYMENTS = Table(
    name="payments",
    table_id=2,
    key="pid",
    time_column="created_at",
    columns=_cols(
        """
        pid:uuid! created_at:ts! eid:uuid
        vid:uuid sid:uuid uid:str oid:str orid:str
        amt:decimal! currency:str
        product:str sku:str category:str qty:int price:decimal
        params:json
        """
    ),
)

AGREEMENTS = Table(
    name="agreements",
    table_id=3,
    key="aid",
    time_column="created_at",
    columns=_cols(
        """
        aid:uuid! created_at:ts! vid:uuid uid:str oid:str
        cflags:int! ip:str iphash:str country:str region:str
        lang:str url:str params:json
        """
    ),
)

# Every change to a short link (tracker/links): the current links are the newest
# change per `urlfrom` that is not a delete (the `redirects` view in each store).
REDIRECT_HISTORY = Table(
    name="redirect_history",
    table_id=4,
    key="hid",
    time_column="changed_at",
    columns=_cols(
        """
        hid:uuid! changed_at:ts! urlfrom:str! host:str! urlto:str oid:str action:str!
        """
    ),
)

TABLES: tuple[Table, ...] = (EVENTS, PAYMENTS, AGREEMENTS, REDIRECT_HISTORY)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
TABLES_BY_ID: dict[int, Table] = {t.table_id: t for t in TABLES}
