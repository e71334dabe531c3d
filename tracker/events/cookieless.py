"""Visitor and session ids without cookies: keyed by a salt that changes every UTC day.

The salt of a day is HMAC(secret, "daily-salt:" + ISO date). Every worker derives
the same salt from the shared secret, so nothing is stored or coordinated. Ids
of different days cannot be linked without the secret; whoever holds the secret
can recompute past salts (accepted: the secret also keys the stored hashes).
"""

from __future__ import annotations

import hmac
from datetime import date

_DAY_MS = 86_400_000


class DailySalt:
    """The current day's salt, recomputed only when the UTC date changes."""

    def __init__(self, secret: bytes):
        self._secret = secret
        self._day = -1
        self._salt = b""

    def for_time(self, now_ms: int) -> bytes:
        day = now_ms // _DAY_MS
        if day != self._day:
            iso = date.fromordinal(date(1970, 1, 1).toordinal() + day).isoformat()
            self._salt = hmac.digest(self._secret, f"daily-salt:{iso}".encode(), "sha256")
            self._day = day
        return self._salt


def _uuid8(digest: bytes) -> str:
    """The first 16 bytes of `digest` as a version-8 (custom) RFC 9562 UUID."""
    b = bytearray(digest[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def cookieless_ids(salt: bytes, oid: str, ip: str, user_agent: str) -> tuple[str, str]:
    """(vid, sid) for one site, address and browser on the salt's day."""
    base = f"{oid}\x00{ip}\x00{user_agent}".encode()
    vid = _uuid8(hmac.digest(salt, b"vid\x00" + base, "sha256"))
    sid = _uuid8(hmac.digest(salt, b"sid\x00" + base, "sha256"))
    return vid, sid
