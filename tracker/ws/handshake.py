"""The WebSocket opening handshake (RFC 6455 section 4.2), as an HTTP response."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection
from urllib.parse import parse_qsl

from tracker.http import Request, Response

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VERSION = "13"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1(key.encode("latin-1") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(request: Request, allow_origin: Collection[str] = ("*",)) -> Response:
    """The 101 that accepts ``request`` as a WebSocket, or the error that refuses it.

    Errors: 405 not GET; 426 (with ``Upgrade``/``Sec-WebSocket-Version``) when
    the request does not ask for a WebSocket or speaks another version; 400 for
    a missing ``Connection: upgrade`` or a bad key; 403 when ``allow_origin`` is
    a list without the request's ``Origin``. A request without ``Origin`` is
    not from a browser (browsers always send it) and is accepted: the check
    protects visitors' browsers from other sites, not the server from clients.
    No extension or subprotocol is negotiated.
    """
    headers = request.headers
    if request.method != "GET":
        return Response.error(405, "a WebSocket handshake is a GET", [("allow", "GET")])
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        return Response.error(426, "this endpoint speaks WebSocket only",
                              [("upgrade", "websocket"), ("connection", "upgrade")])
    if headers.get("sec-websocket-version", "").strip() != _VERSION:
        return Response.error(426, "unsupported WebSocket version (use 13)",
                              [("sec-websocket-version", _VERSION)])
    if "upgrade" not in _tokens(headers.get("connection", "")):
        return Response.error(400, "the Connection header must contain 'upgrade'")
    key = headers.get("sec-websocket-key", "").strip()
    if not _valid_key(key):
        return Response.error(400, "Sec-WebSocket-Key must be 16 bytes in base64")
    if not origin_allowed(headers.get("origin"), allow_origin):
        return Response.error(403, "this origin may not open a WebSocket here")
    return Response(101, [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-accept", accept_key(key)),
    ])


def origin_allowed(origin: str | None, allow_origin: Collection[str]) -> bool:
    """Whether a browser page of ``origin`` may connect; None (no header) is not a browser."""
    if origin is None or "*" in allow_origin:
        return True
    origin = origin.rstrip("/")
    return any(origin == allowed.rstrip("/") for allowed in allow_origin)


def ack_requested(query: str) -> bool:
    """Whether the handshake's query string asks for acknowledgements (``ack=1``)."""
    return any(name == "ack" and value in ("1", "true")
               for name, value in parse_qsl(query, keep_blank_values=True))


def _tokens(value: str) -> list[str]:
    return [token.strip().lower() for token in value.split(",")]


def _valid_key(key: str) -> bool:
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False
