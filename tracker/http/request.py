"""The request as the application sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Request:
    """One parsed HTTP request.

    ``path`` and ``query`` are the raw request target, still percent-encoded
    (``query`` without the ``?``). Header names are lowercase; a repeated
    header is joined with ``", "`` (``cookie`` with ``"; "``). Text is decoded
    as latin-1, so ``s.encode("latin-1")`` gives back the bytes on the wire.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer_ip: str
    tls: bool
    keep_alive: bool
    http_version: str = "1.1"
    _cookies: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def cookie(self, name: str) -> str | None:
        """The value of cookie ``name``, or None. Parsed on first use."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookies(self.headers.get("cookie", ""))
        return cookies.get(name)


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
