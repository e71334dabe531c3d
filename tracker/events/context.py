"""What the route layer knows about one tracking request, handed to the event builder.

Sessions: the `sid` cookie is sent with `Max-Age=1800` and set again on every
event, so the browser itself forgets it after 30 minutes without an event. The
server therefore keeps no per-session clock: a request that carries a `sid`
cookie is, by construction, within 30 minutes of the session's last event.
"""

from __future__ import annotations

from typing import NamedTuple


class RequestContext(NamedTuple):
    """Per-request inputs. Cookie values are raw client strings (validated by the builder).

    A tuple: the compiled EventCore reads the fields by position, which costs
    a fraction of an attribute lookup from C. Add fields at the end.
    """

    client_ip: str  # already resolved by ClientIpResolver and normalized
    user_agent: str
    accept_language: str
    host: str  # the Host header, possibly with a port
    tls: bool
    now_ms: int  # server time, UTC milliseconds
    cookie_vid: str | None = None
    cookie_sid: str | None = None
    cookie_consent: int | None = None  # parsed CookieConsent cookie (cflags bit set)
