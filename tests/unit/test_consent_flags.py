"""Consent flags from the CookieConsent cookie and from events."""

import pytest

from tracker.consent import (
    ANALYTICS,
    MARKETING,
    NECESSARY,
    PREFERENCES,
    effective_cflags,
    event_cflags,
    has_bits,
    parse_consent_cookie,
)


def test_bits_are_the_spec_values() -> None:
    assert (NECESSARY, PREFERENCES, ANALYTICS, MARKETING) == (1, 2, 4, 8)


@pytest.mark.parametrize(("cookie", "expected"), [
    ("0", 0), ("5", 5), ("15", 15), (" 13 ", 13),
    ("1040", 1040),  # site bits above 8 are kept
    ("9223372036854775807", 2**63 - 1),
    ("9223372036854775808", None),
    ("-1", None), ("abc", None), ("", None), (None, None), ("1.5", None),
    ("٣", None),  # a non-ASCII digit is no decimal text here
    ("{necessary:true,preferences:false,statistics:true,marketing:false,"
     "method:'explicit',ver:1}", 5),
    ("{stamp:'x1y2',necessary:true,preferences:true,statistics:true,marketing:true}", 15),
    ("%7Bstamp%3A%27abc%27%2Cnecessary%3Atrue%2Cpreferences%3Afalse%2C"
     "statistics%3Afalse%2Cmarketing%3Atrue%7D", 9),
    ('{"necessary":"true","analytics":"TRUE"}', 5),
    ("{necessary:false}", 0),
    ("{stamp:'x',method:'implied'}", None),  # no category named: no choice recorded
    ("{" + "a" * 5000 + "}", None),
])
def test_parse_consent_cookie(cookie, expected) -> None:
    assert parse_consent_cookie(cookie) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (12, 12), ("12", 12), (12.0, 12), (0, 0),
    (-4, None), ("-4", None), (12.5, None), ("x", None), (None, None), (True, None),
    ([4], None), (2**63, None),
])
def test_event_cflags_is_lenient(value, expected) -> None:
    assert event_cflags(value) == expected


def test_effective_cflags_prefers_the_event() -> None:
    assert effective_cflags({"cflags": 4}, 15) == 4
    assert effective_cflags({"cflags": "bad"}, 15) == 15
    assert effective_cflags({}, 15) == 15
    assert effective_cflags({}, None) is None


def test_has_bits() -> None:
    assert has_bits(ANALYTICS | MARKETING, MARKETING)
    assert has_bits(15, ANALYTICS | MARKETING)
    assert not has_bits(ANALYTICS, ANALYTICS | MARKETING)
    assert not has_bits(None, ANALYTICS)
    assert not has_bits(0, NECESSARY)
