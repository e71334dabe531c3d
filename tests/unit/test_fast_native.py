"""encode_block: the wire format by example, golden bytes against clickhouse-driver and
chdb, round trips through chdb and the 18.16 server, and the compiled encoder against
its pure-Python twin on random batches."""

from __future__ import annotations

import gzip
import importlib
import io
import re
import struct
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services import require_clickhouse, temporary_database
from tracker._fast import columns_py, native_py
from tracker._fast.native_types import parse_type, plan_block
from tracker.model.tables import AGREEMENTS, EVENTS, PAYMENTS, TABLES, Column, Kind, Table

UUID = "01234567-89ab-cdef-0011-223344556677"
UUID_BYTES = bytes.fromhex("efcdab89674523017766554433221100")  # each half little-endian

PROBE = Table(
    name="probe",
    table_id=99,
    key="id",
    time_column="ts",
    columns=(
        Column("id", Kind.UUID, nullable=False),
        Column("ts", Kind.TIMESTAMP_MS, nullable=False),
        Column("u", Kind.UUID),
        Column("s", Kind.STR),
        Column("lc", Kind.STR),
        Column("lcn", Kind.STR),
        Column("j", Kind.JSON),
        Column("i", Kind.INT),
        Column("i32", Kind.INT),
        Column("f", Kind.FLOAT),
        Column("b", Kind.BOOL),
        Column("d", Kind.DECIMAL),
        Column("dn", Kind.DECIMAL),
        Column("t2", Kind.TIMESTAMP_MS),
    ),
)
MODERN_PROBE = [
    ("id", "UUID"),
    ("ts", "DateTime64(3)"),
    ("u", "Nullable(UUID)"),
    ("s", "Nullable(String)"),
    ("lc", "LowCardinality(String)"),
    ("lcn", "LowCardinality(Nullable(String))"),
    ("j", "Nullable(String)"),
    ("i", "Nullable(Int64)"),
    ("i32", "Int32"),  # NULLs become 0
    ("f", "Nullable(Float64)"),
    ("b", "Bool"),
    ("d", "Decimal(18, 4)"),
    ("dn", "Nullable(Decimal(18, 4))"),
    ("t2", "Nullable(DateTime64(3))"),
]
LEGACY_PROBE = [  # what ClickHouse 18.16 has: no DateTime64, no Bool
    *MODERN_PROBE[:1],
    ("ts", "DateTime"),
    *MODERN_PROBE[2:10],
    ("b", "UInt8"),
    *MODERN_PROBE[11:13],
    ("t2", "Nullable(DateTime)"),
]
PROBE_ROWS = [
    {
        "id": UUID,
        "ts": 1_700_000_000_123,
        "u": "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "s": "héllo wörld ✓ 𝄞",
        "lc": "a",
        "lcn": "a",
        "j": {"k": [1, "é", None], "n": 1.5},
        "i": -(1 << 63),
        "i32": -(1 << 31),
        "f": -1.7976931348623157e308,
        "b": True,
        "d": "-12.5",
        "dn": "99999999999999.9999",
        "t2": 0,
    },
    {
        "id": "00000000-0000-0000-0000-000000000000",
        "ts": 0,
        "s": "",
        "lc": "",
        "lcn": "",
        "i": (1 << 63) - 1,
        "i32": (1 << 31) - 1,
        "f": 5e-324,
        "b": False,
        "d": "-99999999999999.9999",
        "dn": "0.0001",
        "t2": 4_294_967_295_999,
    },
    {
        "id": "0190a6f2-7c3b-7d4e-8f00-123456789abc",
        "ts": 4_294_967_295_999,
        "s": "x" * 100_000,
        "lc": "a",
        "lcn": None,
        "j": "",
        "i": 0,
        "f": 0.1,
        "d": "0",
        "dn": "-0.0001",
        "t2": 1_999,
    },
    {"id": UUID, "ts": 1_999, "lc": "b", "lcn": "b", "d": "12.3456", "j": [], "b": True},
]


# ---------------------------------------------------------------- implementations


def _compiled(name: str):
    try:
        return importlib.import_module(f"tracker._fast.{name}")
    except ImportError:
        pytest.skip(f"tracker._fast.{name} is not built (setup.py build_ext --inplace)")


class Impl:
    """A column-buffer module and the encoder that goes with it."""

    def __init__(self, columns, native) -> None:
        self.columns = columns
        self.encode_block = native.encode_block

    def batch(self, table: Table, rows: list[dict]):
        buffer = self.columns.TableBuffer(table)
        assert buffer.extend(rows) == []
        return buffer.take()

    def encode(self, table: Table, rows: list[dict], columns) -> bytes:
        return self.encode_block(self.batch(table, rows), columns)


@pytest.fixture(params=["compiled", "twin"])
def impl(request) -> Impl:
    if request.param == "twin":
        return Impl(columns_py, native_py)
    return Impl(_compiled("columns"), _compiled("native"))


def one_column(column: Column) -> Table:
    return Table("one", 98, column.name, column.name, (column,))


def varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    return bytes([*out, number])


def column_data(impl: Impl, kind: Kind, type_text: str, values: list) -> bytes:
    """The data part of a one-column block (after the name and type)."""
    table = one_column(Column("c", kind))
    block = impl.encode(table, [{"c": v} for v in values], [("c", type_text)])
    header = b"\x01" + varint(len(values)) + b"\x01c" + varint(len(type_text)) + type_text.encode()
    assert block.startswith(header)
    return block[len(header) :]


# ---------------------------------------------------------------- wire format by example


def test_block_header_and_strings(impl):
    block = impl.encode(
        one_column(Column("name", Kind.STR)),
        [{"name": "ab"}, {"name": "é"}, {}],
        [("name", "String")],
    )
    # columns, rows, "name", "String", then varint length + UTF-8 per row (NULL as "").
    assert block == b"\x01\x03\x04name\x06String" + b"\x02ab" + b"\x02\xc3\xa9" + b"\x00"


def test_long_string_length_is_a_varint(impl):
    data = column_data(impl, Kind.STR, "String", ["y" * 300])
    assert data == b"\xac\x02" + b"y" * 300


def test_uuid_halves_are_little_endian(impl):
    assert column_data(impl, Kind.UUID, "UUID", [UUID]) == UUID_BYTES
    assert column_data(impl, Kind.UUID, "UUID", [UUID.upper()]) == UUID_BYTES
    assert column_data(impl, Kind.UUID, "Nullable(UUID)", [None, UUID]) == (
        b"\x01\x00" + bytes(16) + UUID_BYTES
    )
    assert column_data(impl, Kind.UUID, "String", [UUID]) == b"\x24" + UUID.encode()


def test_nullable_numbers_have_a_null_map_and_zero_slots(impl):
    data = column_data(impl, Kind.INT, "Nullable(Int64)", [None, -2])
    assert data == b"\x01\x00" + struct.pack("<qq", 0, -2)
    data = column_data(impl, Kind.FLOAT, "Nullable(Float64)", [1.5, None])
    assert data == b"\x00\x01" + struct.pack("<dd", 1.5, 0.0)
    assert column_data(impl, Kind.BOOL, "Nullable(UInt8)", [True, None, False]) == bytes(
        [0, 1, 0, 1, 0, 0]
    )


def test_null_into_a_type_that_is_not_nullable_is_the_default(impl):
    assert column_data(impl, Kind.INT, "Int32", [None, 7]) == struct.pack("<ii", 0, 7)
    assert column_data(impl, Kind.STR, "String", [None]) == b"\x00"
    assert column_data(impl, Kind.UUID, "UUID", [None]) == bytes(16)
    assert column_data(impl, Kind.DECIMAL, "Decimal(18, 4)", [None]) == bytes(8)


@pytest.mark.parametrize(
    ("type_text", "value", "packed"),
    [
        ("Int8", -128, struct.pack("<b", -128)),
        ("Int16", 32767, struct.pack("<h", 32767)),
        ("UInt16", 65535, struct.pack("<H", 65535)),
        ("UInt32", 4294967295, struct.pack("<I", 4294967295)),
        ("UInt64", (1 << 63) - 1, struct.pack("<Q", (1 << 63) - 1)),
        ("Int64", -(1 << 63), struct.pack("<q", -(1 << 63))),
    ],
)
def test_integer_widths(impl, type_text, value, packed):
    assert column_data(impl, Kind.INT, type_text, [value]) == packed


@pytest.mark.parametrize(
    ("type_text", "value"),
    [("Int8", 128), ("Int8", -129), ("UInt8", -1), ("UInt32", 1 << 32), ("UInt64", -1)],
)
def test_integer_out_of_range(impl, type_text, value):
    with pytest.raises(ValueError, match=rf"^c: {value} is out of range for {type_text}$"):
        column_data(impl, Kind.INT, type_text, [1, value])


def test_floats(impl):
    assert column_data(impl, Kind.FLOAT, "Float32", [1.5, 0.1]) == struct.pack("<ff", 1.5, 0.1)
    with pytest.raises(ValueError, match=r"^c: 1e\+39 is out of range for Float32$"):
        column_data(impl, Kind.FLOAT, "Float32", [1e39])


def test_bools(impl):
    assert column_data(impl, Kind.BOOL, "Bool", [True, False, True]) == b"\x01\x00\x01"
    assert column_data(impl, Kind.BOOL, "UInt8", [False, True]) == b"\x00\x01"


def test_timestamps(impl):
    ms = [1_700_000_000_123, -1, 0]
    assert column_data(impl, Kind.TIMESTAMP_MS, "DateTime64(3)", ms) == struct.pack("<3q", *ms)
    assert column_data(impl, Kind.TIMESTAMP_MS, "DateTime64(6, 'UTC')", ms) == struct.pack(
        "<3q", *(m * 1000 for m in ms)
    )
    assert column_data(impl, Kind.TIMESTAMP_MS, "DateTime64(0)", ms) == struct.pack(
        "<3q",
        1_700_000_000,
        -1,
        0,  # floor, also below zero
    )
    assert column_data(impl, Kind.TIMESTAMP_MS, "Int64", ms) == struct.pack("<3q", *ms)
    seconds = [1_700_000_000_999, 999, 4_294_967_295_999]
    assert column_data(impl, Kind.TIMESTAMP_MS, "DateTime('UTC')", seconds) == struct.pack(
        "<3I", 1_700_000_000, 0, 4_294_967_295
    )


@pytest.mark.parametrize(
    ("type_text", "value"),
    [("DateTime", -1), ("DateTime", 4_294_967_296_000), ("DateTime64(9)", 1 << 62)],
)
def test_timestamp_out_of_range(impl, type_text, value):
    message = rf"^c: {value} is out of range for {re.escape(type_text)}$"
    with pytest.raises(ValueError, match=message):
        column_data(impl, Kind.TIMESTAMP_MS, type_text, [value])


def test_decimals_are_exact_scaled_integers(impl):
    values = ["12.5", "-0.0001", "99999999999999.9999", "-99999999999999.9999", "0", "-0"]
    expected = [125000, -1, 999999999999999999, -999999999999999999, 0, 0]
    data = column_data(impl, Kind.DECIMAL, "Decimal(18, 4)", values)
    assert data == struct.pack("<6q", *expected)
    assert column_data(impl, Kind.DECIMAL, "Decimal(9, 2)", ["12.34", "-0.5"]) == struct.pack(
        "<2i", 1234, -50
    )
    assert column_data(impl, Kind.DECIMAL, "Decimal64(6)", ["1.5"]) == struct.pack("<q", 1500000)
    assert column_data(impl, Kind.DECIMAL, "String", ["12.5"]) == b"\x0712.5000"


def test_decimal_that_does_not_fit(impl):
    with pytest.raises(ValueError, match=r"^c: 12\.3450 has more decimals than Decimal\(9, 2\)$"):
        column_data(impl, Kind.DECIMAL, "Decimal(9, 2)", ["12.345"])
    with pytest.raises(ValueError, match=r"^c: 10\.0000 is out of range for Decimal\(5, 4\)$"):
        column_data(impl, Kind.DECIMAL, "Decimal(5, 4)", ["9.9999", "10"])


def lc_expected(dictionary: list[bytes], keys: list[int], width_code: int, fmt: str) -> bytes:
    out = struct.pack("<QQQ", 1, 0x600 | width_code, len(dictionary))
    out += b"".join(bytes([len(entry)]) + entry for entry in dictionary)
    return out + struct.pack(f"<Q{len(keys)}{fmt}", len(keys), *keys)


def test_low_cardinality(impl):
    values = ["b", "a", "b", None, ""]
    data = column_data(impl, Kind.STR, "LowCardinality(String)", values)
    assert data == lc_expected([b"b", b"a", b""], [0, 1, 0, 2, 2], 0, "B")  # NULL is ""
    data = column_data(impl, Kind.STR, "LowCardinality(Nullable(String))", values)
    assert data == lc_expected([b"", b"b", b"a", b""], [1, 2, 1, 0, 3], 0, "B")  # 0: NULL


@pytest.mark.parametrize(
    ("count", "nullable", "code", "fmt"),
    [(256, False, 0, "B"), (255, True, 0, "B"), (256, True, 1, "H"), (300, False, 1, "H")],
)
def test_low_cardinality_index_width(impl, count, nullable, code, fmt):
    type_text = "LowCardinality(Nullable(String))" if nullable else "LowCardinality(String)"
    values = [f"{n:03d}" for n in range(count)]
    data = column_data(impl, Kind.STR, type_text, values)
    first = 1 if nullable else 0
    dictionary = [b""] * first + [v.encode() for v in values]
    assert data == lc_expected(dictionary, list(range(first, count + first)), code, fmt)


@pytest.mark.parametrize("nullable", [False, True])
def test_low_cardinality_dictionary_grows(impl, nullable):
    type_text = "LowCardinality(Nullable(String))" if nullable else "LowCardinality(String)"
    values = [f"v{n % 700}" for n in range(2100)]  # 700 distinct, each seen three times
    data = column_data(impl, Kind.STR, type_text, values)
    first = 1 if nullable else 0
    dictionary = [b""] * first + [f"v{n}".encode() for n in range(700)]
    assert data == lc_expected(dictionary, [n % 700 + first for n in range(2100)], 1, "H")


def test_zero_rows_carry_no_column_data(impl):
    block = impl.encode(PROBE, [], MODERN_PROBE)
    expected = b"".join(
        bytes([len(name)]) + name.encode() + bytes([len(t)]) + t.encode()
        for name, t in MODERN_PROBE
    )
    assert block == bytes([len(MODERN_PROBE), 0]) + expected


def test_columns_follow_the_given_order_and_may_be_a_subset(impl):
    rows = [{"id": UUID, "ts": 5, "i": 9}]
    block = impl.encode(PROBE, rows, [("i", "Int64"), ("id", "UUID")])
    assert block == (
        b"\x02\x01" + b"\x01i\x05Int64" + struct.pack("<q", 9) + b"\x02id\x04UUID" + UUID_BYTES
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([("nope", "String")], r"^nope: not a column of table probe$"),
        ([("s", "String"), ("s", "String")], r"^s: named twice$"),
        ([("s", "FixedString(3)")], r"^s: unsupported ClickHouse type 'FixedString\(3\)'$"),
        ([("i", "LowCardinality(Int64)")], r"^i: unsupported ClickHouse type"),
        ([("s", "Nullable(Nullable(String))")], r"^s: unsupported ClickHouse type"),
        ([("d", "Decimal(38, 4)")], r"^d: unsupported ClickHouse type"),
        ([("s", "Int64")], r"^s: a str column cannot be sent as Int64$"),
        ([("f", "Decimal(18, 4)")], r"^f: a float column cannot be sent as Decimal\(18, 4\)$"),
        ([("ts", "Float64")], r"^ts: a ts column cannot be sent as Float64$"),
    ],
)
def test_impossible_columns(impl, columns, message):
    with pytest.raises(ValueError, match=message):
        impl.encode(PROBE, PROBE_ROWS, columns)


def test_parse_type():
    assert parse_type("LowCardinality(Nullable(String))").low_cardinality
    assert parse_type("LowCardinality(Nullable(String))").nullable
    parsed = parse_type("Nullable(DateTime64(3, 'Europe/Berlin'))")
    assert (parsed.base, parsed.nullable, parsed.scale, parsed.width) == ("DateTime64", True, 3, 8)
    parsed = parse_type("Decimal(18, 4)")
    assert (parsed.base, parsed.precision, parsed.scale, parsed.width) == ("Decimal", 18, 4, 8)
    assert parse_type("Decimal32(2)").width == 4
    assert parse_type("DateTime('UTC')").base == "DateTime"
    bad_types = [
        "DateTime64(10)",
        "Decimal(4, 5)",
        "Array(String)",
        "Nullable(LowCardinality(String))",
    ]
    for bad in bad_types:
        with pytest.raises(ValueError):
            parse_type(bad)


def test_compiled_encoder_takes_only_the_compiled_batch():
    native = _compiled("native")
    batch = Impl(columns_py, native_py).batch(PROBE, PROBE_ROWS)
    with pytest.raises(TypeError, match="ColumnBatch"):
        native.encode_block(batch, MODERN_PROBE)


def test_a_sliced_batch_encodes_like_its_rows(impl):
    batch = impl.batch(PROBE, PROBE_ROWS)
    for start, stop in [(1, 3), (2, 4), (0, 0)]:
        expected = impl.encode(PROBE, PROBE_ROWS[start:stop], MODERN_PROBE)
        assert impl.encode_block(batch.slice(start, stop), MODERN_PROBE) == expected


# ---------------------------------------------------------------- golden: clickhouse-driver


class _Socket:
    def __init__(self) -> None:
        self.out = io.BytesIO()

    def sendall(self, data) -> None:
        self.out.write(bytes(data))


class _ServerInfo:
    used_revision = 0  # no BlockInfo, no custom serialization flags: the HTTP Native layout

    def get_timezone(self) -> str:
        return "UTC"


class _Context:
    server_info = _ServerInfo()
    settings: dict = {}
    client_settings = {
        "strings_as_bytes": False,
        "strings_encoding": "utf-8",
        "use_numpy": False,
        "input_format_null_as_default": False,
    }


def driver_block(columns: list[tuple[str, str]], data: list[list]) -> bytes:
    """The block clickhouse-driver writes for these columns (name, type) and values."""
    pytest.importorskip("clickhouse_driver")
    from clickhouse_driver.block import ColumnOrientedBlock
    from clickhouse_driver.bufferedwriter import BufferedSocketWriter
    from clickhouse_driver.streams.native import BlockOutputStream

    socket = _Socket()
    writer = BufferedSocketWriter(socket, 1 << 20)
    block = ColumnOrientedBlock(columns_with_types=columns, data=data)
    BlockOutputStream(writer, _Context()).write(block)
    return socket.out.getvalue()


def stored_values(batch, table: Table) -> dict[str, list]:
    """Each column as stored (json as text, ts as int ms), None for NULL."""
    arrow = batch.to_arrow()
    out = {}
    for index, column in enumerate(table.columns):
        array = arrow.column(index)
        if column.kind is Kind.TIMESTAMP_MS:
            array = array.cast(pa.int64())
        out[column.name] = array.to_pylist()
    return out


def driver_items(kind: Kind, type_text: str, values: list) -> list:
    """The values as clickhouse-driver takes them for `type_text`."""
    native = parse_type(type_text)
    items = []
    for value in values:
        if value is None and not native.nullable and not native.low_cardinality:
            value = {"String": "", "UUID": "00000000-0000-0000-0000-000000000000"}.get(
                native.base, "0" if native.base == "Decimal" else 0
            )
        elif value is not None and native.base == "DateTime":
            value //= 1000
        elif value is None and native.low_cardinality and not native.nullable:
            value = ""
        items.append(value)
    return items


def type_sets() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Per table, the column types of a modern server and of 18.16."""
    low = {
        "etyp",
        "ename",
        "host",
        "source",
        "medium",
        "device",
        "os",
        "browser",
        "country",
        "lang",
        "currency",
        "tz",
        "category",
        "oid",
    }

    def modern(column: Column) -> str:
        base = {
            Kind.UUID: "UUID",
            Kind.STR: "String",
            Kind.JSON: "String",
            Kind.INT: "Int64",
            Kind.FLOAT: "Float64",
            Kind.BOOL: "Bool",
            Kind.TIMESTAMP_MS: "DateTime64(3)",
            Kind.DECIMAL: "Decimal(18, 4)",
        }[column.kind]
        if column.name in {"vp_w", "vp_h", "qty"}:
            base = "Int32"
        if column.kind is Kind.STR and column.name in low:
            return "LowCardinality(Nullable(String))"
        return f"Nullable({base})" if column.nullable else base

    def legacy(column: Column) -> str:
        text = modern(column).replace("DateTime64(3)", "DateTime").replace("Bool", "UInt8")
        if column.name == "client_ts":
            return "Nullable(Int64)"  # raw milliseconds
        if column.name == "uid":
            return "String"  # NULL is sent as ''
        return text

    return {
        table.name: {
            "modern": [(c.name, modern(c)) for c in table.columns],
            "legacy": [(c.name, legacy(c)) for c in table.columns],
        }
        for table in TABLES
    }


TYPE_SETS = type_sets()


def sample_rows(table: Table, count: int) -> list[dict]:
    """Deterministic rows with every column set on most rows and NULL on some."""
    rows = []
    for n in range(count):
        row = {}
        for index, column in enumerate(table.columns):
            if column.nullable and (n + index) % 4 == 0:
                continue
            row[column.name] = {
                Kind.UUID: f"0190a6f2-7c3b-7d4e-8f00-{n * 7919 + index:012x}",
                Kind.STR: f"{column.name}-{n % 3}-é" if n % 5 else "",
                Kind.JSON: {"n": n, "s": "✓"} if n % 2 else [n],
                Kind.INT: (n - 3) * 1000,
                Kind.FLOAT: n / 7 - 1,
                Kind.BOOL: n % 2 == 1,
                Kind.TIMESTAMP_MS: 1_700_000_000_000 + n * 86_400_123,
                Kind.DECIMAL: f"{n * 37 - 50}.{n % 10}5",
            }[column.kind]
        rows.append(row)
    return rows


def assert_equals_driver(batch, table: Table, columns: list[tuple[str, str]], encode) -> None:
    stored = stored_values(batch, table)
    kinds = {c.name: c.kind for c in table.columns}
    data = [driver_items(kinds[name], type_text, stored[name]) for name, type_text in columns]
    assert encode(batch, columns) == driver_block(columns, data)


@pytest.mark.parametrize("type_set", ["modern", "legacy"])
def test_probe_bytes_equal_clickhouse_driver(impl, type_set):
    columns = MODERN_PROBE if type_set == "modern" else LEGACY_PROBE
    assert_equals_driver(impl.batch(PROBE, PROBE_ROWS), PROBE, columns, impl.encode_block)


@pytest.mark.parametrize("type_set", ["modern", "legacy"])
@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_table_bytes_equal_clickhouse_driver(impl, table, type_set):
    batch = impl.batch(table, sample_rows(table, 40))
    assert_equals_driver(batch, table, TYPE_SETS[table.name][type_set], impl.encode_block)


# ---------------------------------------------------------------- round trips: chdb, 18.16


def readable(name: str, type_text: str) -> str:
    """A SELECT expression that shows a column's value the same way on 18.16 and 26.x."""
    base = parse_type(type_text).base
    if base == "DateTime64":
        return f"toString(toUnixTimestamp64Milli(`{name}`))"
    if base == "DateTime":
        return f"toString(toUInt32(`{name}`))"
    if base in {"String", "Float32", "Float64"}:
        return f"`{name}`"
    return f"toString(`{name}`)"  # UUID, integers, Bool, Decimal


def expected_rows(batch, table: Table, columns: list[tuple[str, str]]) -> list[dict]:
    """What reading the block back through `readable` must give."""
    stored = stored_values(batch, table)
    kinds = {c.name: c.kind for c in table.columns}
    out: list[dict] = [{} for _ in range(batch.num_rows)]
    for name, type_text in columns:
        native = parse_type(type_text)
        items = driver_items(kinds[name], type_text, stored[name])
        for row, item in zip(out, items, strict=True):
            if item is None:
                row[name] = None
            elif native.base == "Bool":
                row[name] = "true" if item else "false"
            elif native.base == "Decimal":
                row[name] = Decimal(item)
            elif native.base in {"String", "UUID", "Float64", "Float32"}:
                row[name] = item
            else:
                row[name] = str(int(item))
    return out


def parse_rows(text: str, columns: list[tuple[str, str]]) -> list[dict]:
    rows = [orjson.loads(line) for line in text.splitlines() if line]
    decimals = [name for name, t in columns if parse_type(t).base == "Decimal"]
    for row in rows:
        for name in decimals:
            if row[name] is not None:
                row[name] = Decimal(row[name])
    return rows


def select_sql(source: str, columns: list[tuple[str, str]]) -> str:
    expressions = ", ".join(f"{readable(n, t)} AS `{n}`" for n, t in columns)
    return f"SELECT {expressions} FROM {source}"


@pytest.fixture
def chdb_query(tmp_path, monkeypatch):
    """Run SQL in chdb (working directory without a config.xml); JSONEachRow text."""
    chdb = pytest.importorskip("chdb")
    monkeypatch.chdir(tmp_path)

    def run(sql: str) -> str:
        return chdb.query(sql, "JSONEachRow").bytes().decode()

    return run


def test_chdb_reads_back_every_value(impl, chdb_query, tmp_path):
    batch = impl.batch(PROBE, PROBE_ROWS)
    for columns in (MODERN_PROBE, LEGACY_PROBE):
        path = tmp_path / "block.native"
        path.write_bytes(impl.encode_block(batch, columns))
        text = chdb_query(select_sql(f"file('{path}', 'Native')", columns))
        assert parse_rows(text, columns) == expected_rows(batch, PROBE, columns)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_chdb_reads_back_whole_tables(impl, chdb_query, tmp_path, table):
    batch = impl.batch(table, sample_rows(table, 300))
    columns = TYPE_SETS[table.name]["modern"]
    path = tmp_path / "block.native"
    path.write_bytes(impl.encode_block(batch, columns))
    text = chdb_query(select_sql(f"file('{path}', 'Native')", columns))
    assert parse_rows(text, columns) == expected_rows(batch, table, columns)


def test_chdb_rewrites_the_same_bytes(impl, chdb_query, tmp_path):
    """ClickHouse's own Native writer gives the same bytes (LowCardinality aside: it also
    keeps a slot for the default value in its dictionaries)."""
    columns = [(n, t) for n, t in MODERN_PROBE if not t.startswith("LowCardinality")]
    block = impl.encode(PROBE, PROBE_ROWS, columns)
    (tmp_path / "in.native").write_bytes(block)
    chdb = pytest.importorskip("chdb")
    again = chdb.query(f"SELECT * FROM file('{tmp_path / 'in.native'}', 'Native')", "Native")
    assert again.bytes() == block


def test_chdb_reads_an_empty_block(impl, chdb_query, tmp_path):
    path = tmp_path / "empty.native"
    path.write_bytes(impl.encode(PROBE, [], MODERN_PROBE))
    text = chdb_query(f"SELECT count() AS n, any(id) AS id FROM file('{path}', 'Native')")
    assert int(orjson.loads(text)["n"]) == 0


def _post(server, sql: str, body: bytes, gzipped: bool = False, **params: str) -> str:
    query = urllib.parse.urlencode({"query": sql, **params})
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    request = urllib.request.Request(
        server.http_url + "?" + query, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read().decode()) from None


LC_SETTING = {"allow_experimental_low_cardinality_type": "1"}


def create_table(server, name: str, columns: list[tuple[str, str]], key: str) -> None:
    spec = ", ".join(f"`{n}` {t}" for n, t in columns)
    sql = f"CREATE TABLE {name} ({spec}) ENGINE = MergeTree() ORDER BY `{key}`"
    _post(server, sql, b"", **LC_SETTING)


def test_server_accepts_the_probe_block(impl):
    server = require_clickhouse()
    batch = impl.batch(PROBE, PROBE_ROWS)
    block = impl.encode_block(batch, LEGACY_PROBE)
    with temporary_database(server) as db:
        create_table(server, f"{db}.probe", [*LEGACY_PROBE, ("extra", "String")], "id")
        _post(server, f"INSERT INTO {db}.probe FORMAT Native", block)
        _post(server, f"INSERT INTO {db}.probe FORMAT Native", gzip.compress(block), True)
        _post(server, f"INSERT INTO {db}.probe FORMAT Native", impl.encode(PROBE, [], LEGACY_PROBE))
        sql = select_sql(f"{db}.probe", LEGACY_PROBE) + " ORDER BY id, ts FORMAT JSONEachRow"
        got = parse_rows(_post(server, sql, b""), LEGACY_PROBE)
    expected = expected_rows(batch, PROBE, LEGACY_PROBE)
    expected = sorted(expected * 2, key=lambda r: (r["id"], int(r["ts"])))
    assert got == expected


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_server_accepts_whole_tables(impl, table):
    server = require_clickhouse()
    columns = TYPE_SETS[table.name]["legacy"]
    rows = sample_rows(table, 600)  # LowCardinality dictionaries of UInt16 indexes too
    for n, row in enumerate(rows):
        row["oid"] = f"place {n}"  # LowCardinality
    batch = impl.batch(table, rows)
    with temporary_database(server) as db:
        create_table(server, f"{db}.t", columns, table.key)
        _post(server, f"INSERT INTO {db}.t FORMAT Native", impl.encode_block(batch, columns))
        sql = select_sql(f"{db}.t", columns) + f" ORDER BY `{table.key}` FORMAT JSONEachRow"
        got = parse_rows(_post(server, sql, b""), columns)
    expected = sorted(expected_rows(batch, table, columns), key=lambda r: r[table.key])
    assert got == expected


# ---------------------------------------------------------------- compiled vs twin


def _values(column: Column) -> st.SearchStrategy:
    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    values = {
        Kind.UUID: st.uuids().map(str),
        Kind.STR: st.one_of(st.sampled_from(["", "a", "b", "é✓"]), text),
        Kind.JSON: st.one_of(st.integers(-5, 5), text, st.lists(st.integers(0, 3), max_size=3)),
        Kind.INT: st.one_of(st.integers(-300, 300), st.integers(-(1 << 63), (1 << 63) - 1)),
        Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
        Kind.BOOL: st.booleans(),
        Kind.TIMESTAMP_MS: st.one_of(
            st.integers(0, 4_294_967_295_999), st.integers(-(1 << 63), (1 << 63) - 1)
        ),
        Kind.DECIMAL: st.decimals(
            min_value=-(10**14) + 1, max_value=10**14 - 1, places=4, allow_nan=False
        ).map(str),
    }[column.kind]
    return st.one_of(st.none(), values) if column.nullable else values


def _rows(table: Table) -> st.SearchStrategy:
    row = st.fixed_dictionaries({c.name: _values(c) for c in table.columns})
    return st.lists(row, max_size=12)


def _outcome(encode, batch, columns) -> bytes | str:
    try:
        return encode(batch, columns)
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize("table", [EVENTS, PAYMENTS, AGREEMENTS], ids=lambda t: t.name)
def test_compiled_equals_twin_on_random_batches(table):
    columns_c, native_c = _compiled("columns"), _compiled("native")
    compiled, twin = Impl(columns_c, native_c), Impl(columns_py, native_py)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=_rows(table))
    def check(rows):
        for type_set in ("modern", "legacy"):
            columns = TYPE_SETS[table.name][type_set]
            batch_c, batch_t = compiled.batch(table, rows), twin.batch(table, rows)
            expected = _outcome(native_py.encode_block, batch_t, columns)
            assert _outcome(native_c.encode_block, batch_c, columns) == expected
            assert _outcome(native_py.encode_block, batch_c, columns) == expected

    check()


def test_plan_matches_the_table_order():
    planned = plan_block(PAYMENTS, [("amt", "Decimal(18, 4)"), ("pid", "UUID")])
    assert [(p.name, p.index) for p in planned] == [("amt", 8), ("pid", 0)]
