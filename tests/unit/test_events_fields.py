"""Input value conversion: what each column type accepts and the 400 reasons."""

import pytest

from tracker.events.fields import (
    FieldError,
    to_bool,
    to_count,
    to_float,
    to_object,
    to_str,
    to_time_ms,
    to_uuid,
)


def test_to_str_keeps_case_and_converts_numbers():
    assert to_str("uid", "MixedCase", 10) == "MixedCase"
    assert to_str("uid", 42, 10) == "42"
    assert to_str("uid", 1.5, 10) == "1.5"


@pytest.mark.parametrize("value", [True, {"a": 1}, [1]])
def test_to_str_rejects_non_text(value):
    with pytest.raises(FieldError, match=r"^uid must be a string$"):
        to_str("uid", value, 10)


def test_to_str_length_limit():
    assert to_str("url", "x" * 10, 10) == "x" * 10
    with pytest.raises(FieldError, match="url is longer than 10 characters"):
        to_str("url", "x" * 11, 10)


def test_to_float():
    assert to_float("score", 3) == 3.0
    assert to_float("score", "2.5") == 2.5
    assert to_float("score", "") is None
    for bad in ("abc", True, [1], "nan", "inf"):
        with pytest.raises(FieldError, match=r"^score must be a"):
            to_float("score", bad)


def test_to_count():
    assert to_count("vp_w", 1920) == 1920
    assert to_count("vp_w", "1080") == 1080
    assert to_count("vp_w", 800.0) == 800
    assert to_count("vp_w", "") is None
    for bad in ("wide", 1.5, True, None, "1e3"):
        with pytest.raises(FieldError, match=r"^vp_w must be an integer$"):
            to_count("vp_w", bad)
    with pytest.raises(FieldError, match="between 0 and"):
        to_count("vp_w", -1)
    with pytest.raises(FieldError, match="between 0 and"):
        to_count("cflags", 2**63)


def test_to_bool():
    assert to_bool("bot", True) is True
    assert to_bool("bot", "false") is False
    assert to_bool("bot", "TRUE") is True
    assert to_bool("bot", 1) is True
    assert to_bool("bot", "0") is False
    assert to_bool("bot", "") is None
    for bad in ("maybe", 2, 1.0, {}):
        with pytest.raises(FieldError, match=r"^bot must be true or false$"):
            to_bool("bot", bad)


def test_to_time_ms():
    assert to_time_ms("client_ts", 1_700_000_000_123) == 1_700_000_000_123
    assert to_time_ms("client_ts", "1700000000123") == 1_700_000_000_123
    assert to_time_ms("client_ts", 1_700_000_000_123.4) == 1_700_000_000_123
    assert to_time_ms("ts", "2023-11-14T22:13:20.123Z") == 1_700_000_000_123
    assert to_time_ms("ts", "2023-11-14T23:13:20.123+01:00") == 1_700_000_000_123
    assert to_time_ms("ts", "2023-11-14T22:13:20.123") == 1_700_000_000_123  # no zone: UTC
    assert to_time_ms("ts", "") is None


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-01", True, [], -5, 10**20])
def test_to_time_ms_rejects(bad):
    with pytest.raises(FieldError, match=r"^ts "):
        to_time_ms("ts", bad)


def test_to_object():
    assert to_object("params", {"A": 1}) == {"A": 1}
    assert to_object("params", '{"k":"V"}') == {"k": "V"}
    for bad in ([1], "[1]", "{bad", 3):
        with pytest.raises(FieldError, match=r"^params must be a JSON object$"):
            to_object("params", bad)


def test_to_uuid():
    upper = "0190A6F2-7C3B-7D4E-8F00-123456789ABC"
    assert to_uuid("vid", upper) == upper.lower()
    assert to_uuid("vid", "") is None
    for bad in ("not-a-uuid", 12, "0190a6f27c3b7d4e8f00123456789abc"):
        with pytest.raises(FieldError, match=r"^vid must be a UUID$"):
            to_uuid("vid", bad)
