"""One parsed HTTP request (pure-Python twin of request.pyx)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker._fast.httpmessage import parse_cookies


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
