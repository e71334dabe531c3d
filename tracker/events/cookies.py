"""The first-party cookies the tracker sets: `vid` (visitor) and `sid` (session).

Neither is HttpOnly: the site's own tracking script may read them to send ids
in event bodies. SameSite=Lax keeps them on top-level navigations from other
sites (campaign clicks); Secure is added when the request came over TLS.
"""

from __future__ import annotations

from dataclasses import dataclass

VID_COOKIE = "vid"
SID_COOKIE = "sid"
VID_MAX_AGE = 2 * 365 * 86_400  # two years
SID_MAX_AGE = 1800  # 30 minutes of inactivity end a session (set again on every event)


@dataclass(frozen=True, slots=True)
class CookieUpdate:
    """`Set-Cookie` header values to send with the response (empty: none)."""

    set_cookie: tuple[str, ...] = ()


NO_COOKIES = CookieUpdate()


def _suffix(max_age: int, secure: bool) -> str:
    return f"; Max-Age={max_age}; Path=/; SameSite=Lax" + ("; Secure" if secure else "")


# Attribute tails, prebuilt: a Set-Cookie value is then one concatenation.
_VID_SUFFIX = {tls: _suffix(VID_MAX_AGE, tls) for tls in (False, True)}
_SID_SUFFIX = {tls: _suffix(SID_MAX_AGE, tls) for tls in (False, True)}


def cookie_update(vid: str | None, sid: str, tls: bool) -> CookieUpdate:
    """Set `sid` (always, to extend the session) and `vid` when given."""
    sid_cookie = f"{SID_COOKIE}={sid}{_SID_SUFFIX[tls]}"
    if vid is None:
        return CookieUpdate((sid_cookie,))
    return CookieUpdate((f"{VID_COOKIE}={vid}{_VID_SUFFIX[tls]}", sid_cookie))
