"""The first-party cookies the tracker sets: `vid` (visitor) and `sid` (session).

Neither is HttpOnly: the site's own tracking script may read them to send ids
in event bodies. SameSite=Lax keeps them on top-level navigations from other
sites (campaign clicks); Secure is added when the request came over TLS.
"""

from __future__ import annotations

from typing import NamedTuple

VID_COOKIE = "vid"
SID_COOKIE = "sid"
VID_MAX_AGE = 2 * 365 * 86_400  # two years
SID_MAX_AGE = 1800  # 30 minutes of inactivity end a session (set again on every event)


class CookieUpdate(NamedTuple):
    """The `Set-Cookie` headers to send with the response (empty: none).

    Kept as header pairs, the form the response takes them in. A tuple, so
    that EventCore (compiled) makes one per event with a single call.
    """

    headers: tuple[tuple[str, str], ...] = ()

    @property
    def set_cookie(self) -> tuple[str, ...]:
        """The `Set-Cookie` header values."""
        return tuple([value for _, value in self.headers])


NO_COOKIES = CookieUpdate()


def _suffix(max_age: int, secure: bool) -> str:
    return f"; Max-Age={max_age}; Path=/; SameSite=Lax" + ("; Secure" if secure else "")


# Per TLS flag, the text around the ids: (before vid, after vid, before sid,
# after sid). A Set-Cookie value is then one concatenation; EventCore builds
# them from this too.
COOKIE_PARTS = {
    tls: (f"{VID_COOKIE}=", _suffix(VID_MAX_AGE, tls), f"{SID_COOKIE}=", _suffix(SID_MAX_AGE, tls))
    for tls in (False, True)
}


def cookie_update(vid: str | None, sid: str, tls: bool) -> CookieUpdate:
    """Set `sid` (always, to extend the session) and `vid` when given."""
    vid_before, vid_after, sid_before, sid_after = COOKIE_PARTS[tls]
    sid_header = ("Set-Cookie", sid_before + sid + sid_after)
    if vid is None:
        return CookieUpdate((sid_header,))
    return CookieUpdate((("Set-Cookie", vid_before + vid + vid_after), sid_header))
