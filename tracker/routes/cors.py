"""CORS: which origin to allow on a response, and the preflight answer."""

from __future__ import annotations

from tracker.http import Request, Response

PREFLIGHT_MAX_AGE = "86400"
ALLOWED_METHODS = "GET, POST, OPTIONS"
DEFAULT_ALLOWED_HEADERS = "Content-Type, Content-Encoding, Authorization"


class CorsPolicy:
    """`AllowOrigin: "*"` allows everyone without credentials; a list of
    origins reflects the matching one and allows credentials (cookies)."""

    def __init__(self, allow_origin: tuple[str, ...]):
        self._any = "*" in allow_origin
        self._origins = frozenset(o.rstrip("/") for o in allow_origin if o != "*")

    @property
    def constant_headers(self) -> tuple[tuple[str, str], ...] | None:
        """The headers when they do not depend on the request ("*"), else None."""
        return (("Access-Control-Allow-Origin", "*"),) if self._any else None

    def headers(self, request: Request) -> list[tuple[str, str]]:
        if self._any:
            return [("Access-Control-Allow-Origin", "*")]
        origin = request.headers.get("origin")
        if origin and origin.rstrip("/") in self._origins:
            return [("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Vary", "Origin")]
        return [("Vary", "Origin")]

    def preflight(self, request: Request) -> Response:
        requested = request.headers.get("access-control-request-headers")
        headers = [
            *self.headers(request),
            ("Access-Control-Allow-Methods", ALLOWED_METHODS),
            ("Access-Control-Allow-Headers", requested or DEFAULT_ALLOWED_HEADERS),
            ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE),
        ]
        return Response.empty(204, headers)
