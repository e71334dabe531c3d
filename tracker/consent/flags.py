"""Consent flags (`cflags`): an integer bit set chosen by the visitor (SPEC 3.4).

Bits: 1 necessary, 2 preferences, 4 analytics, 8 marketing; bits above 8 are
free for the site's own purposes and are kept as given.

Sources, in order: the event's own `cflags` field, else the `CookieConsent`
cookie. The cookie holds either the decimal bit set ("13") or the object form
that consent banners such as Cookiebot write under the same cookie name
(`{necessary:true,preferences:false,statistics:true,marketing:false,...}`,
often percent-encoded); its categories map to the bits above (`statistics` or
`analytics` -> 4). Anything else, including Cookiebot's "-1" ("no banner shown
here"), counts as no recorded choice (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

NECESSARY = 1
PREFERENCES = 2
ANALYTICS = 4
MARKETING = 8

CONSENT_COOKIE = "CookieConsent"

_INT64_MAX = 2**63 - 1
# Category names of the object form -> bit.
_CATEGORY_BITS = {
    "necessary": NECESSARY,
    "preferences": PREFERENCES,
    "statistics": ANALYTICS,
    "analytics": ANALYTICS,
    "marketing": MARKETING,
}
_MAX_COOKIE_CHARS = 4096  # a browser keeps at most ~4 KB per cookie anyway


def _decimal(text: str) -> int | None:
    if not text.isdigit() or not text.isascii():
        return None
    number = int(text)
    return number if number <= _INT64_MAX else None


def _object_form(text: str) -> int | None:
    """`{necessary:true,statistics:false,...}` -> bits; None when no category is named."""
    bits = 0
    seen = False
    for part in text.strip()[1:-1].split(","):
        key, sep, value = part.partition(":")
        bit = _CATEGORY_BITS.get(key.strip().strip("'\"").lower())
        if not sep or bit is None:
            continue
        seen = True
        if value.strip().strip("'\"").lower() == "true":
            bits |= bit
    return bits if seen else None


def parse_consent_cookie(value: str | None) -> int | None:
    """The cflags a `CookieConsent` cookie value records, or None when it records none."""
    if not value or len(value) > _MAX_COOKIE_CHARS:
        return None
    text = value.strip()
    number = _decimal(text)
    if number is not None:
        return number
    if "%" in text:
        text = unquote(text).strip()
    if text.startswith("{") and text.endswith("}"):
        return _object_form(text)
    return None


def event_cflags(value: Any) -> int | None:
    """An event's own `cflags` value as a bit set, or None when absent or unusable.

    Lenient on purpose: the gate must decide before the event builder validates
    the field (and reports a bad one as the event's 400 reason).
    """
    if type(value) is int:
        return value if 0 <= value <= _INT64_MAX else None
    if type(value) is str:
        return _decimal(value.strip())
    if type(value) is float and value.is_integer():
        return event_cflags(int(value))
    return None


def effective_cflags(fields: Mapping[str, Any], cookie_cflags: int | None) -> int | None:
    """The event's `cflags` when it has a usable one, else the cookie's."""
    own = event_cflags(fields.get("cflags"))
    return own if own is not None else cookie_cflags


def has_bits(cflags: int | None, bits: int) -> bool:
    """True when every bit of `bits` is set in `cflags` (None: no choice, nothing set)."""
    return cflags is not None and cflags & bits == bits
