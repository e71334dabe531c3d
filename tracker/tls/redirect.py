"""HTTP -> HTTPS redirects on the plain port when TLS is on.

Decisions:
- Not redirected: ``/.well-known/acme-challenge/...`` (the CA validates over
  plain HTTP, RFC 8555 8.3), and ``/health`` and ``/ping``, which load balancers
  and orchestrators probe over plain HTTP, often without trusting the
  certificate. Everything else, ``/metrics`` included, goes to HTTPS.
- GET and HEAD get 301. Other methods get 308, which keeps the method and the
  body: a tracking POST sent to http:// must not turn into a GET.
- The target is the request's own Host (its port replaced by the TLS port, left
  out when 443). The Host header must be a plain name, IPv4 or bracketed IPv6
  literal with an optional port: anything else (CR/LF, "@", "/", spaces, ...)
  is answered 400 instead of being echoed into a Location header. An optional
  ``allowed_hosts`` set narrows the names further, so a forged Host cannot make
  the server point a client at a host it does not serve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from tracker.http import Request, Response

EXEMPT_PATHS = frozenset({"/health", "/ping"})
_ACME_PREFIX = "/.well-known/acme-challenge/"
_MAX_HOST = 255
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PORT = re.compile(r"[0-9]{1,5}")
# Printable ASCII that may stand in a URL as it is; everything else in the
# path or query (spaces, quotes, <>, non-ASCII bytes) is percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?#[]"


def host_name(host_header: str) -> str | None:
    """The host part of a valid Host header (lowercase, port dropped), else None."""
    if not host_header or len(host_header) > _MAX_HOST:
        return None
    if host_header.startswith("["):
        name, bracket, rest = host_header.partition("]")
        name += bracket
        if not bracket or _IPV6.fullmatch(name) is None:
            return None
    else:
        name, sep, port = host_header.partition(":")
        rest = sep + port
        if _NAME.fullmatch(name) is None:
            return None
    if rest:
        port = rest[1:]
        if rest[0] != ":" or _PORT.fullmatch(port) is None or not 0 < int(port) < 65536:
            return None
    return name.lower().rstrip(".")


class HttpsRedirect:
    """Builds the redirect for a plain-HTTP request when TLS is on.

    ``answer(request)`` is None for requests served on plain HTTP (see the
    module docstring), else a 301/308 to HTTPS or a 400 for a bad Host.
    """

    def __init__(self, tls_port: int, *, allowed_hosts: Iterable[str] | None = None,
                 exempt_paths: Iterable[str] = EXEMPT_PATHS) -> None:
        if not 0 < tls_port < 65536:
            raise ValueError(f"bad TLS port {tls_port}")
        self._port_suffix = "" if tls_port == 443 else f":{tls_port}"
        self._allowed = None if allowed_hosts is None else frozenset(
            h.lower().rstrip(".") for h in allowed_hosts)
        self._exempt = frozenset(exempt_paths)

    def exempt(self, path: str) -> bool:
        return path in self._exempt or path.startswith(_ACME_PREFIX)

    def answer(self, request: Request) -> Response | None:
        if self.exempt(request.path):
            return None
        host = host_name(request.headers.get("host", ""))
        if host is None:
            return Response.error(400, "missing or invalid Host header")
        if self._allowed is not None and host not in self._allowed:
            return Response.error(400, "unknown host")
        path = request.path if request.path.startswith("/") else "/"
        target = f"https://{host}{self._port_suffix}{quote(path, safe=_URL_SAFE)}"
        if request.query:
            target += "?" + quote(request.query, safe=_URL_SAFE)
        status = 301 if request.method in ("GET", "HEAD") else 308
        return Response(status, [("location", target), ("cache-control", "no-store")])
