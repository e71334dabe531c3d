"""JsonRows.extend(buffer, payload) is exactly buffer.extend(orjson.loads(payload)).

The compiled scanner is held to that on hand-picked payloads (escapes, whitespace,
duplicate keys, every kind of number, invalid JSON) and on random rows written by
orjson and by the standard json module; the twin is that definition.
"""

from __future__ import annotations

import importlib
import json
import math
import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_fast_columns import SMALL, UUID, rows_of
from tracker._fast import columns_py, rowjson_py
from tracker.model.tables import EVENTS, PAYMENTS

ROW = f'"id":"{UUID}","ts":1700000000000'


def _compiled():
    try:
        return (
            importlib.import_module("tracker._fast.columns"),
            importlib.import_module("tracker._fast.rowjson"),
        )
    except ImportError:
        pytest.skip("tracker._fast is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def mods(request):
    return _compiled() if request.param == "compiled" else (columns_py, rowjson_py)


def reference(columns, table, payload: bytes, before: list | None = None):
    """What extend(orjson.loads(payload)) gives: (result, rows(), arrow table)."""
    buffer = columns.TableBuffer(table)
    if before:
        buffer.extend(before)
    try:
        rows = orjson.loads(payload)
    except orjson.JSONDecodeError:
        rows = None
    result = buffer.extend(rows) if isinstance(rows, list) else None
    batch = buffer.take()
    return result, batch.rows(), batch.to_arrow()


def check(payload: bytes | str, table=SMALL, before: list | None = None, mods=None):
    """JsonRows gives the reference result, rows and Arrow table; returns the result."""
    columns, rowjson = mods or _compiled()
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    buffer = columns.TableBuffer(table)
    if before:
        buffer.extend(before)
    result = rowjson.JsonRows(table).extend(buffer, payload)
    batch = buffer.take()
    arrow = batch.to_arrow()
    arrow.validate(full=True)
    want_result, want_rows, want_arrow = reference(columns, table, payload, before)
    assert result == want_result
    assert batch.rows() == want_rows
    assert arrow.equals(want_arrow)
    return result, want_rows


def test_plain_rows(mods):
    result, rows = check(
        f'[{{{ROW},"s":"Grüße €","i":-5,"f":2.5,"b":true,"j":{{"a":[1,null,"x"]}},"d":"12.5"}},'
        f'{{{ROW},"b":false,"unknown":{{"deep":[1.5e3,"\\n"]}}}}]',
        mods=mods,
    )
    assert result == []
    assert rows[0] == {
        "id": UUID, "ts": 1_700_000_000_000, "s": "Grüße €", "i": -5, "f": 2.5, "b": True,
        "j": {"a": [1, None, "x"]}, "d": "12.5000",
    }
    assert rows[1] == {"id": UUID, "ts": 1_700_000_000_000, "b": False}


@pytest.mark.parametrize(
    "payload",
    [
        b"", b"   ", b"{}", b'"x"', b"1", b"null", b"[", b"[{}", b"[{}]x", b"[{},]", b"[,]",
        b"\xef\xbb\xbf[]", b"[{\"a\":1,}]", b"[{\"a\" 1}]", b"[{'a':1}]", b"[{\"s\":\"\x01\"}]",
        b'[{"s":"\xff"}]', b'[{"s":"\xed\xa0\x80"}]', b'[{"s":"\\ud800"}]', b'[{"x":"\\q"}]',
        b'[{"x":1e400}]', b'[{"f":1e309}]', b'[{"x":01}]', b'[{"x":-}]', b'[{"x":1.}]',
        b'[{"x":.5}]', b'[{"x":tru}]', b'[{"x":nul}]', b'[{"j":[1,2}]', b"[\x00]",
    ],
)
def test_not_a_json_array_appends_nothing(mods, payload):
    before = [{"id": UUID, "ts": 1, "s": "kept"}]
    result, rows = check(payload, before=before, mods=mods)
    assert result is None
    assert rows == [{"id": UUID, "ts": 1, "s": "kept"}]


@pytest.mark.parametrize(
    "payload",
    [
        b"[]", b" [ ] ", b"[{}]", b"[1, 2]", b'[[], "x", null]', b"[{}, {}]",
        f' [ {{ {ROW} , "s" : "a" }} ]\n'.encode(),
        json.dumps([{"id": UUID, "ts": 1, "s": "x", "j": {"k": [1, 2]}}], indent=2).encode(),
        json.dumps([{"id": UUID, "ts": 1, "s": "Grüße \"q\" \\ /\t€😀"}]).encode(),
        json.dumps([{"id": UUID, "ts": 1, "s": "Grüße 😀"}], ensure_ascii=False).encode(),
        f'[{{{ROW},"s":"a","s":"b"}}]'.encode(),  # the last of duplicate keys wins
        f'[{{{ROW},"x":1,"x":2,"s":"c"}}]'.encode(),
        f'[{{"\\u0069d":"{UUID}","ts":1}}]'.encode(),  # an escaped key is still "id"
        f'[{{{ROW},"\\u00e9":1,"é":[1,{{"a":null}}]}}]'.encode(),
        f'[{{"id":"{UUID.upper()}","ts":1}}]'.encode(),
        f'[{{"id":"\\u0030{UUID[1:]}","ts":1}}]'.encode(),
        f'[{{"id":"{UUID[:-1]}","ts":1}},{{{ROW}}}]'.encode(),
        f'[{{{ROW},"id":null}}]'.encode(),
        b'[{"ts":1}]',
        f'[{{{ROW},"s":1}},{{{ROW},"s":null}},{{{ROW},"s":"\\u0000"}}]'.encode(),
        f'[{{{ROW},"b":1}},{{{ROW},"b":"true"}},{{{ROW},"b":null}}]'.encode(),
    ],
)
def test_shapes_escapes_and_rejections(mods, payload):
    check(payload, before=[{"id": UUID, "ts": 2}], mods=mods)


INTS = [
    "0", "-0", "7", "-7", "123456789012345678", "-123456789012345678", "1234567890123456789",
    "9223372036854775807", "-9223372036854775808", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
]
FLOATS = [
    "0.0", "-0.0", "1.5", "-1.5", "0.1", "1e3", "1E3", "1e-3", "1.5e+10", "-2.5E-7",
    "1e-400", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
    "9007199254740993", "9007199254740993.0", "0.30000000000000004", "123456789.987654321e-5",
]


@pytest.mark.parametrize("text", INTS + FLOATS)
@pytest.mark.parametrize("column", ["i", "ts", "f", "j", "d", "s", "b"])
def test_numbers_in_every_kind(mods, text, column):
    if column == "ts":
        check(f'[{{"id":"{UUID}","ts":{text}}}]', mods=mods)
    else:
        check(f'[{{{ROW},"{column}":{text}}}]', mods=mods)


@pytest.mark.parametrize(
    "value",
    [
        '{"a":1.0}', '{"a":1.50}', '{"a" : 1}', '{"a":1,"a":2}', "[1,-0]", '"str"', "true",
        "false", "null", "[]", "{}", '{"a":{"b":[{"c":"\\u00e9\\n"}]}}', "18446744073709551616",
        '{"k":"é€"}', '[ 1 ]', '{"a":[1,2],"b":{"a":1}}', "[" * 40 + "]" * 40,
        "{" + ",".join(f'"k{i}":{i}' for i in range(40)) + "}",
        "{" + ",".join(f'"k{i % 35}":{i}' for i in range(40)) + "}",
    ],
)
def test_json_column_keeps_what_orjson_dumps(mods, value):
    check(f'[{{{ROW},"j":{value}}}]', mods=mods)


@pytest.mark.parametrize("value", ['"12.5"', "12.5", "12", '"1e3"', '"abc"', "true", "1e20"])
def test_decimal_column(mods, value):
    check(f'[{{{ROW},"d":{value}}}]', mods=mods)


def test_events_and_payments_rows(mods):
    events = [{"eid": UUID, "created_at": 5, "bot": False, "url": "https://x/é?a=\"b\"",
               "params": {"n": 1, "f": 0.5}, "score": 3, "lat": 52.5, "vp_w": 10}] * 3
    check(orjson.dumps(events), table=EVENTS, mods=mods)
    payments = [{"pid": UUID, "created_at": 5, "amt": "9.99", "qty": 2, "price": 4}]
    check(orjson.dumps(payments), table=PAYMENTS, mods=mods)


def test_another_tables_buffer_is_refused(mods):
    columns, rowjson = mods
    with pytest.raises(ValueError, match="another table"):
        rowjson.JsonRows(EVENTS).extend(columns.TableBuffer(SMALL), b"[]")


def test_a_bail_out_keeps_the_rows_before_it():
    # The first rows are scanned into the buffer, then a duplicate key sends the
    # whole record down the general path: they must not be appended twice.
    payload = f'[{{{ROW},"s":"a"}},{{{ROW},"s":"b"}},{{{ROW},"s":"c","s":"d"}}]'
    result, rows = check(payload, before=[{"id": UUID, "ts": 3, "s": "x" * 300}])
    assert result == []
    assert [r.get("s") for r in rows] == ["x" * 300, "a", "b", "d"]


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(rows_of(SMALL), min_size=1, max_size=3),
    style=st.sampled_from(["orjson", "json", "json-ascii", "json-indent"]),
)
def test_random_rows_match_orjson_then_extend(batches, style):
    columns, rowjson = _compiled()
    scanner = rowjson.JsonRows(SMALL)
    buffer, want = columns.TableBuffer(SMALL), columns.TableBuffer(SMALL)
    for rows in batches:
        try:
            if style == "orjson":
                payload = orjson.dumps(rows)
            else:
                payload = json.dumps(
                    rows, ensure_ascii=style == "json-ascii", allow_nan=True,
                    indent=2 if style == "json-indent" else None,
                ).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError, orjson.JSONEncodeError):
            continue  # not serializable: never in a log
        try:
            decoded = orjson.loads(payload)
        except orjson.JSONDecodeError:
            decoded = None
        assert scanner.extend(buffer, payload) == (
            want.extend(decoded) if isinstance(decoded, list) else None
        )
        assert buffer.num_rows == want.num_rows
    got, expected = buffer.take(), want.take()
    assert got.rows() == expected.rows()
    assert got.to_arrow().equals(expected.to_arrow())


@settings(max_examples=400, deadline=None)
@given(
    number=st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.builds(
        lambda sign, digits, frac, exp: f"{sign}{digits}{frac}{exp}",
        st.sampled_from(["", "-"]),
        st.from_regex(r"(0|[1-9][0-9]{0,25})", fullmatch=True),
        st.from_regex(r"(\.[0-9]{1,25})?", fullmatch=True),
        st.from_regex(r"([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    )
    | st.integers(0, 2**64 - 1).map(
        lambda bits: repr(struct.unpack("<d", bits.to_bytes(8, "little"))[0])
    ),
)
def test_float_text_reads_like_orjson(number):
    if number in ("nan", "inf", "-inf") or not math.isfinite(float(number)):
        number = "0"
    check(f'[{{{ROW},"f":{number},"j":{number},"i":{number}}}]')
