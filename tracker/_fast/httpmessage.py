"""What both request readers share, and the Request's cookie parsing.

The reader (``httpreader``, compiled, and its twin ``httpreader_py``) and the
``Request`` it builds (``request``, compiled, and its twin ``request_py``) live
in tracker._fast; ``tracker.http`` re-exports ``Request`` and ``RequestError``.
They are defined outside ``tracker.http`` so that the compiled reader can
import them without importing the HTTP package that imports it.
"""

from __future__ import annotations

# Phases of the message being read.
IDLE = 0  # between messages
HEAD = 1  # first byte seen, headers not complete
BODY = 2  # headers complete, body not complete

# Read-only: method names as str without a decode per request.
METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
}
# Read-only: lowercase names of common request headers, keyed by their usual
# spellings on the wire, to skip a lower() and a decode per header.
_COMMON_HEADERS = (
    *("Host", "User-Agent", "Accept", "Accept-Language", "Accept-Encoding", "Referer"),
    *("Cookie", "Connection", "Content-Type", "Content-Length", "Content-Encoding"),
    *("Origin", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "Forwarded"),
    *("Cache-Control", "Pragma", "DNT", "Priority", "Upgrade", "Upgrade-Insecure-Requests"),
    *("Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User", "Sec-GPC"),
    *("Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform", "TE", "Transfer-Encoding"),
    "Expect",
)
HEADER_NAMES = {n.encode(): n.lower() for n in _COMMON_HEADERS} | {
    n.lower().encode(): n.lower() for n in _COMMON_HEADERS
}
# Request line bytes besides the target: "METHOD " and " HTTP/1.1\r\n".
REQUEST_LINE_OVERHEAD = 18


class RequestError(Exception):
    """The client's request cannot be served; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a Cookie header; the first occurrence of a name wins (RFC 6265 5.4)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip()
        if not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def split_unusual_target(target: str) -> tuple[str, str]:
    """Path and query of an absolute-form target ("http://host/p?q", sent to
    proxies), of "*" or of a target with a fragment."""
    target = target.partition("#")[0]
    if "://" in target:
        rest = target.partition("://")[2]
        slash = rest.find("/")
        mark = rest.find("?")
        if slash < 0 or (0 <= mark < slash):
            target = "/" + rest[mark:] if mark >= 0 else "/"
        else:
            target = rest[slash:]
    path, _, query = target.partition("?")
    return path, query
