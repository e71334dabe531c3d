"""TableBuffer / ColumnBatch: each kind's rules by example on both implementations,
and the compiled module against its pure-Python twin on random and hostile rows."""

from __future__ import annotations

import gc
import importlib
import math

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import columns_py
from tracker.model.tables import EVENTS, PAYMENTS, TABLES, Column, Kind, Table

UUID = "0190f0e2-3c4d-7e5f-8a6b-1c2d3e4f5a6b"

SMALL = Table(
    name="small",
    table_id=99,
    key="id",
    time_column="ts",
    columns=(
        Column("id", Kind.UUID, nullable=False),
        Column("ts", Kind.TIMESTAMP_MS, nullable=False),
        Column("s", Kind.STR),
        Column("i", Kind.INT),
        Column("f", Kind.FLOAT),
        Column("b", Kind.BOOL),
        Column("j", Kind.JSON),
        Column("d", Kind.DECIMAL),
    ),
)


def _compiled():
    try:
        return importlib.import_module("tracker._fast.columns")
    except ImportError:
        pytest.skip("tracker._fast.columns is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def cols(request):
    return _compiled() if request.param == "compiled" else columns_py


def row(**values):
    return {"id": UUID, "ts": 1_700_000_000_000, **values}


def one(cols, column: str, value):
    """Append one SMALL row with `column` set; return the stored value (rows() form)."""
    buffer = cols.TableBuffer(SMALL)
    buffer.append(row(**{column: value}))
    return buffer.take().rows()[0].get(column)


def rejection(cols, column: str, value) -> str:
    buffer = cols.TableBuffer(SMALL)
    with pytest.raises(ValueError) as info:
        buffer.append(row(**{column: value}))
    assert buffer.num_rows == 0
    return str(info.value)


# --- schema and shape -----------------------------------------------------------


def test_arrow_schema(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.append(row(s="x"))
    table = buffer.take().to_arrow()
    assert table.schema == pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("ts", pa.timestamp("ms"), nullable=False),
            pa.field("s", pa.string()),
            pa.field("i", pa.int64()),
            pa.field("f", pa.float64()),
            pa.field("b", pa.bool_()),
            pa.field("j", pa.string()),
            pa.field("d", pa.string()),
        ]
    )
    assert table.to_pylist()[0]["ts"] == pa.scalar(1_700_000_000_000, pa.timestamp("ms")).as_py()


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_field_order_is_the_table_order(cols, table):
    assert cols.TableBuffer(table).take().to_arrow().column_names == list(table.column_names)


def test_round_trip_of_every_kind(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.append(
        row(s="Grüße", i=-(2**63), f=2.5, b=False, j={"a": [1, None, "x"]}, d="12.5", extra=1)
    )
    buffer.append({"id": UUID.upper(), "ts": 0})
    batch = buffer.take()
    assert batch.num_rows == 2
    assert batch.rows() == [
        {
            "id": UUID,
            "ts": 1_700_000_000_000,
            "s": "Grüße",
            "i": -(2**63),
            "f": 2.5,
            "b": False,
            "j": {"a": [1, None, "x"]},
            "d": "12.5000",
        },
        {"id": UUID, "ts": 0},
    ]
    table = batch.to_arrow()
    assert table.column("j").to_pylist() == ['{"a":[1,null,"x"]}', None]
    assert table.column("b").to_pylist() == [False, None]
    assert table.column("s").null_count == 1


def test_batch_implements_the_sink_protocol(cols):
    buffer = cols.TableBuffer(EVENTS)
    buffer.append({"eid": UUID, "created_at": 1, "bot": False})
    batch = buffer.take()
    assert batch.table is EVENTS
    assert (batch.num_rows, batch.slice(0, 1).num_rows) == (1, 1)
    assert batch.nbytes > 0
    assert isinstance(batch.to_arrow(), pa.Table)
    assert batch.rows() == [{"eid": UUID, "created_at": 1, "bot": False}]


# --- NULLs, unknown keys, all or nothing --------------------------------------------


def test_missing_and_none_are_null(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.append(row(s=None, i=None))
    assert buffer.take().to_arrow().column("s").to_pylist() == [None]


@pytest.mark.parametrize("how", ["missing", "none"])
def test_not_null_column(cols, how):
    buffer = cols.TableBuffer(SMALL)
    bad = {"ts": 1} if how == "missing" else {"id": None, "ts": 1}
    with pytest.raises(ValueError, match=r"^id: missing \(column is NOT NULL\)$"):
        buffer.append(bad)


def test_row_must_be_a_dict(cols):
    with pytest.raises(ValueError, match=r"^row: expected a dict, got list$"):
        cols.TableBuffer(SMALL).append([UUID, 1])


def test_a_rejected_row_leaves_the_buffer_unchanged(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.append(row(s="first", b=True))
    size = buffer.nbytes
    # every column before `d` takes its value, then `d` fails
    with pytest.raises(ValueError, match=r"^d: not a valid decimal$"):
        buffer.append(row(s="x" * 1000, i=5, f=1.0, b=True, j=[1], d="abc"))
    assert (buffer.num_rows, buffer.nbytes) == (1, size)
    buffer.append(row(s="second", b=False))
    batch = buffer.take()
    assert batch.rows() == [
        {"id": UUID, "ts": 1_700_000_000_000, "s": "first", "b": True},
        {"id": UUID, "ts": 1_700_000_000_000, "s": "second", "b": False},
    ]
    table = batch.to_arrow()
    table.validate(full=True)
    assert table.column("i").null_count == 2


def test_extend_reports_rejected_rows(cols):
    buffer = cols.TableBuffer(SMALL)
    rejected = buffer.extend([row(), row(i="1"), "nope", row(i=2), {"id": "x", "ts": 1}])
    assert rejected == [
        (1, "i: expected an integer, got str"),
        (2, "row: expected a dict, got str"),
        (4, "id: not a valid UUID"),
    ]
    assert buffer.take().rows() == [row(), row(i=2)]


def test_take_resets_the_buffer(cols):
    buffer = cols.TableBuffer(SMALL)
    empty_size = buffer.nbytes
    buffer.extend([row(s="a" * 100)] * 10)
    assert buffer.nbytes > empty_size
    first = buffer.take()
    assert (buffer.num_rows, buffer.nbytes) == (0, empty_size)
    buffer.append(row(s="b"))
    second = buffer.take()
    assert (first.num_rows, second.num_rows) == (10, 1)
    assert first.rows()[0]["s"] == "a" * 100  # the first batch is untouched
    assert second.rows()[0]["s"] == "b"
    empty = buffer.take()
    assert empty.num_rows == 0
    assert empty.to_arrow().num_rows == 0
    assert empty.rows() == []


def test_nbytes_is_the_arrow_layout_size(cols):
    table = Table(
        "t", 98, "s", "i", (Column("s", Kind.STR), Column("i", Kind.INT), Column("b", Kind.BOOL))
    )
    buffer = cols.TableBuffer(table)
    buffer.append({"s": "héllo", "i": 1, "b": True})
    # s: bitmap 1 + offsets 2*4 + 6 UTF-8 bytes; i: 1 + 8; b: 1 + 1
    assert buffer.nbytes == 15 + 9 + 2
    assert buffer.take().nbytes == 26


# --- kinds ------------------------------------------------------------------------


def test_uuid_kind(cols):
    assert one(cols, "id", UUID.upper()) == UUID
    assert rejection(cols, "id", 5) == "id: expected a UUID string, got int"
    for bad in ["{" + UUID + "}", UUID.replace("-", ""), UUID[:-1] + "g", UUID[:-1] + "é"]:
        assert rejection(cols, "id", bad) == "id: not a valid UUID"


def test_str_kind(cols):
    assert one(cols, "s", "") == ""
    assert one(cols, "s", "Case Kept ✓") == "Case Kept ✓"
    assert rejection(cols, "s", 5) == "s: expected a string, got int"
    assert rejection(cols, "s", b"x") == "s: expected a string, got bytes"
    assert rejection(cols, "s", "a\ud800") == "s: not valid UTF-8 text (unpaired surrogate)"


def test_int_kind(cols):
    assert one(cols, "i", 2**63 - 1) == 2**63 - 1
    assert one(cols, "i", -(2**63)) == -(2**63)
    assert rejection(cols, "i", 2**63) == "i: out of int64 range"
    assert rejection(cols, "i", -(2**63) - 1) == "i: out of int64 range"
    assert rejection(cols, "i", True) == "i: expected an integer, got bool"
    assert rejection(cols, "i", 1.0) == "i: expected an integer, got float"


def test_ts_kind(cols):
    assert one(cols, "ts", -1) == -1
    assert rejection(cols, "ts", 1.5) == "ts: expected integer milliseconds, got float"
    assert rejection(cols, "ts", False) == "ts: expected integer milliseconds, got bool"
    assert rejection(cols, "ts", 10**30) == "ts: out of int64 range"


def test_float_kind(cols):
    assert one(cols, "f", 3) == 3.0
    assert isinstance(one(cols, "f", 3), float)
    assert one(cols, "f", -0.0) == 0.0
    assert one(cols, "f", 2**1000) == float(2**1000)
    assert rejection(cols, "f", 10**400) == "f: out of float64 range"
    # NaN and infinities are rejected: stores and comparisons stay sane
    for bad in [math.nan, math.inf, -math.inf]:
        assert rejection(cols, "f", bad) == "f: must be finite"
    assert rejection(cols, "f", True) == "f: expected a number, got bool"
    assert rejection(cols, "f", "1.5") == "f: expected a number, got str"


def test_bool_kind(cols):
    assert one(cols, "b", True) is True
    assert rejection(cols, "b", 1) == "b: expected a boolean, got int"
    assert rejection(cols, "b", "true") == "b: expected a boolean, got str"


def test_json_kind(cols):
    for value in [{"k": [1, 2.5, None, True]}, [], "text", 7, 1.5, False]:
        assert one(cols, "j", value) == value
    assert one(cols, "j", [math.nan]) == [None]  # orjson writes NaN as null
    assert rejection(cols, "j", {1, 2}).startswith("j: not JSON-serializable (")
    assert rejection(cols, "j", {1: "a"}).startswith("j: not JSON-serializable (")
    assert rejection(cols, "j", [2**64]).startswith("j: not JSON-serializable (")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", "12.5000"),
        ("12.50", "12.5000"),
        ("+7", "7.0000"),
        ("-0.00004", "0.0000"),
        ("-0", "0.0000"),
        ("00012.34565", "12.3457"),
        ("-12.34565", "-12.3457"),
        ("1.23444", "1.2344"),
        (".5", "0.5000"),
        ("5.", "5.0000"),
        ("1e3", "1000.0000"),
        ("1.5E-2", "0.0150"),
        ("0e999999", "0.0000"),
        ("99999999999999.9999", "99999999999999.9999"),
        ("-99999999999999.99994", "-99999999999999.9999"),
        (12, "12.0000"),
        (-3, "-3.0000"),
        (0.1, "0.1000"),
        (2.675, "2.6750"),
        (1e-7, "0.0000"),
    ],
)
def test_decimal_kind(cols, value, expected):
    assert one(cols, "d", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("99999999999999.99995", "out of DECIMAL(18,4) range"),
        ("100000000000000", "out of DECIMAL(18,4) range"),
        ("1e14", "out of DECIMAL(18,4) range"),
        (10**14, "out of DECIMAL(18,4) range"),
        (-(10**14), "out of DECIMAL(18,4) range"),
        (10**40, "out of DECIMAL(18,4) range"),
        (1e20, "out of DECIMAL(18,4) range"),
        ("1_000", "not a valid decimal"),
        (" 1", "not a valid decimal"),
        ("1.2.3", "not a valid decimal"),
        ("", "not a valid decimal"),
        ("NaN", "not a valid decimal"),
        ("Infinity", "not a valid decimal"),
        ("١٢", "not a valid decimal"),  # Arabic-Indic digits
        (math.nan, "must be finite"),
        (math.inf, "must be finite"),
        (True, "expected a decimal string or number, got bool"),
        ([1], "expected a decimal string or number, got list"),
    ],
)
def test_decimal_rejections(cols, value, reason):
    assert rejection(cols, "d", value) == f"d: {reason}"


# --- slices ------------------------------------------------------------------------


def test_slice(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.extend([row(i=n, s=None if n % 3 else f"s{n}", b=n % 2 == 0) for n in range(20)])
    batch = buffer.take()
    everything = batch.rows()
    for start, stop in [(0, 20), (3, 11), (8, 16), (5, 5), (-4, 100), (15, 3), (0, 0)]:
        part = batch.slice(start, stop)
        assert part.rows() == everything[start:stop]
        table = part.to_arrow()
        table.validate(full=True)
        assert table.equals(pa.Table.from_pylist(everything[start:stop], schema=table.schema))
    nested = batch.slice(2, 18).slice(3, 9)
    assert nested.rows() == everything[5:11]
    assert nested.table is SMALL


# --- compiled-only properties ---------------------------------------------------------


def test_compiled_arrow_arrays_wrap_the_buffers_and_keep_them_alive():
    compiled = _compiled()
    buffer = compiled.TableBuffer(SMALL)
    buffer.extend([row(s=f"value {n}", i=n) for n in range(1000)])
    batch = buffer.take()
    column = batch.column_data[2]  # s
    table = batch.to_arrow()
    data_address = pa.py_buffer(column.data).address
    assert table.column("s").chunk(0).buffers()[2].address == data_address  # no copy
    expected = [f"value {n}" for n in range(1000)]
    del batch, column, buffer
    gc.collect()
    assert table.column("s").to_pylist() == expected
    assert table.column("i").to_pylist() == list(range(1000))


def test_compiled_batch_is_not_built_by_hand():
    with pytest.raises(TypeError):
        _compiled().ColumnBatch()


# --- compiled == twin ----------------------------------------------------------------


def sometimes(common, rare, one_in: int):
    """`rare` about once in `one_in` draws (one_of would weigh every branch alike)."""
    return st.integers(0, one_in - 1).flatmap(lambda n: rare if n == 0 else common)


hostile = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.binary(max_size=3),
    st.lists(st.integers(), max_size=2),
)
text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
decimal_text = st.from_regex(
    r"[+-]?[0-9]{0,16}(\.[0-9]{0,7})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
decimal_ties = st.builds(  # exactly half a unit in the 4th decimal: the rounding rule shows
    lambda sign, whole, fraction: f"{sign}{whole}.{fraction:04d}5",
    st.sampled_from(["", "-", "+"]),
    st.integers(0, 10**14),
    st.integers(0, 9999),
)
decimal_values = st.one_of(
    decimal_text,
    decimal_ties,
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(),
)

VALID_BY_KIND = {
    Kind.UUID: st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()),
    Kind.STR: text,
    Kind.INT: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    Kind.TIMESTAMP_MS: st.integers(min_value=0, max_value=2**45),
    Kind.FLOAT: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60),
    Kind.BOOL: st.booleans(),
    Kind.JSON: json_values,
    Kind.DECIMAL: st.decimals(min_value=-(10**13), max_value=10**13, places=6).map(str)
    | st.integers(min_value=-(10**13), max_value=10**13)
    | st.floats(min_value=-1e13, max_value=1e13),
}
EDGE_BY_KIND = {
    Kind.UUID: st.text(alphabet="0123456789abcdefABCDEFg-{}", min_size=34, max_size=38),
    Kind.STR: st.text(max_size=6),  # unpaired surrogates included
    Kind.INT: st.integers(min_value=-(2**70), max_value=2**70),
    Kind.TIMESTAMP_MS: st.integers(min_value=-(2**70), max_value=2**70) | st.floats(),
    Kind.FLOAT: st.floats() | st.integers(min_value=-(2**1100), max_value=2**1100),
    Kind.BOOL: st.integers(0, 1),
    Kind.JSON: st.recursive(
        hostile,
        lambda c: (
            st.lists(c, max_size=2)
            | st.dictionaries(st.text(max_size=3) | st.integers() | st.none(), c, max_size=2)
        ),
    ),
    Kind.DECIMAL: decimal_values,
}


def rows_of(table: Table):
    """Lists of rows where about half of the rows are valid, each rejected by one column."""
    one_in = 2 * len(table.columns)
    required = {}
    optional = {}
    for column in table.columns:
        value = sometimes(VALID_BY_KIND[column.kind], EDGE_BY_KIND[column.kind] | hostile, one_in)
        (optional if column.nullable else required)[column.name] = value
    row_strategy = st.fixed_dictionaries(required, optional=optional)
    return st.lists(sometimes(row_strategy, hostile, 10), max_size=12)


def same_everywhere(table: Table, batches_of_rows: list[list], start: int, stop: int) -> None:
    compiled = _compiled()
    fast, twin = compiled.TableBuffer(table), columns_py.TableBuffer(table)
    for rows in batches_of_rows:  # several takes: the compiled buffer reuses size hints
        assert fast.extend(rows) == twin.extend(rows)
        assert (fast.num_rows, fast.nbytes) == (twin.num_rows, twin.nbytes)
        fast_batch, twin_batch = fast.take(), twin.take()
        assert (fast_batch.num_rows, fast_batch.nbytes) == (twin_batch.num_rows, twin_batch.nbytes)
        fast_table = fast_batch.to_arrow()
        fast_table.validate(full=True)
        assert fast_table.equals(twin_batch.to_arrow())
        assert fast_batch.rows() == twin_batch.rows()
        fast_part, twin_part = fast_batch.slice(start, stop), twin_batch.slice(start, stop)
        assert (fast_part.num_rows, fast_part.nbytes) == (twin_part.num_rows, twin_part.nbytes)
        part_table = fast_part.to_arrow()
        part_table.validate(full=True)
        assert part_table.equals(twin_part.to_arrow())
        assert fast_part.rows() == twin_part.rows()


@settings(max_examples=120, deadline=None)
@given(
    batches=st.lists(rows_of(SMALL), min_size=1, max_size=3),
    start=st.integers(-3, 14),
    stop=st.integers(-3, 14),
)
def test_compiled_matches_twin_on_small(batches, start, stop):
    same_everywhere(SMALL, batches, start, stop)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(rows_of(EVENTS), min_size=1, max_size=2), start=st.integers(0, 12))
def test_compiled_matches_twin_on_events(batches, start):
    same_everywhere(EVENTS, batches, start, start + 5)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(rows_of(PAYMENTS), min_size=1, max_size=2), start=st.integers(0, 12))
def test_compiled_matches_twin_on_payments(batches, start):
    same_everywhere(PAYMENTS, batches, start, start + 5)


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(decimal_values, hostile, st.text(alphabet="0123456789.+-eE", max_size=25)))
def test_compiled_decimals_match_twin(value):
    compiled = _compiled()
    results = []
    for module in (compiled, columns_py):
        buffer = module.TableBuffer(SMALL)
        try:
            buffer.append(row(d=value))
            results.append(buffer.take().rows()[0].get("d"))
        except ValueError as exc:
            results.append(str(exc))
    assert results[0] == results[1]


def test_take_with_a_limit(cols):
    buffer = cols.TableBuffer(SMALL)
    buffer.extend([row(i=i, s="x" * i, b=i % 2 == 0) for i in range(10)])
    with pytest.raises(ValueError, match="negative"):
        buffer.take(-1)
    first = buffer.take(7)
    assert (first.num_rows, buffer.num_rows) == (7, 3)
    buffer.append(row(i=10))
    second = buffer.take(100)  # more than is buffered: everything
    assert buffer.num_rows == 0
    assert [r["i"] for r in first.rows()] == list(range(7))
    assert second.rows() == [row(i=i, s="x" * i, b=i % 2 == 0) for i in (7, 8, 9)] + [row(i=10)]
    second.to_arrow().validate(full=True)


@settings(max_examples=80, deadline=None)
@given(rows=rows_of(SMALL), more=rows_of(SMALL), limit=st.integers(0, 14))
def test_compiled_take_with_a_limit_matches_twin(rows, more, limit):
    compiled = _compiled()
    got = []
    for module in (compiled, columns_py):
        buffer = module.TableBuffer(SMALL)
        buffer.extend(rows)
        first = buffer.take(limit)
        kept = (buffer.num_rows, buffer.nbytes)
        buffer.extend(more)
        second = buffer.take()
        for batch in (first, second):
            batch.to_arrow().validate(full=True)
        got.append((first.rows(), second.rows(), first.nbytes, second.nbytes, kept,
                    first.to_arrow(), second.to_arrow()))
    fast, twin = got
    assert fast[:5] == twin[:5]
    assert fast[5].equals(twin[5]) and fast[6].equals(twin[6])
    whole = columns_py.TableBuffer(SMALL)
    whole.extend(rows)
    whole.extend(more)
    assert fast[0] + fast[1] == whole.take().rows()
