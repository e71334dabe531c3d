"""The WebSocket endpoint's protocol machinery (RFC 6455, SPEC 3.1). Knows nothing of tracking.

Modules: ``handshake`` (the 101 or the refusal, ``ack=1``), ``frames``
(sans-IO frame parser and writers, close codes), ``messages`` (a message →
event candidates: JSON text, or LZ4-compressed binary), ``protocol``
(``WebSocketProtocol``: one connection after the handshake).

Wiring in a route::

    def ws(request):
        return upgrade(request, handler, limits, allow_origin=cfg.allow_origin, server=state)

where ``handler(items, is_batch)`` returns (or awaits to) the number of events
durably accepted. Return ``upgrade``'s result from the app synchronously when
possible: the connection then changes hands within the same read.

Close codes: 1000 echoed to a client's Close; 1001 idle timeout or shutdown;
1002 protocol error (unmasked client frame, bad opcode, fragmented or
oversized control frame, bad continuation); 1007 bad JSON, bad UTF-8, bad LZ4
data or an unusable shape; 1009 a message over ``max_message_bytes`` (decoded
JSON, declared LZ4 length, or on the wire), or too many events; 1011 the
handler failed. A handler may raise ``CloseError`` to close with its own code
(e.g. 1013 when the log is full).
"""

from __future__ import annotations

from collections.abc import Collection

from tracker.http import Request, Response, ServerState, Upgrade
from tracker.ws.frames import CloseCode, CloseError
from tracker.ws.handshake import accept_key, ack_requested, handshake_response, origin_allowed
from tracker.ws.messages import decode_message
from tracker.ws.protocol import MessageHandler, WebSocketProtocol, WsLimits


def upgrade(
    request: Request,
    handle_message: MessageHandler,
    limits: WsLimits,
    *,
    allow_origin: Collection[str] = ("*",),
    server: ServerState | None = None,
) -> Response | Upgrade:
    """An ``Upgrade`` to a ``WebSocketProtocol`` for a valid handshake, else the refusal."""
    response = handshake_response(request, allow_origin)
    if response.status != 101:
        return response
    ack = ack_requested(request.query)

    def factory() -> WebSocketProtocol:
        return WebSocketProtocol(handle_message, limits, ack=ack, server=server)

    return Upgrade(response, factory)


__all__ = [
    "CloseCode",
    "CloseError",
    "MessageHandler",
    "WebSocketProtocol",
    "WsLimits",
    "accept_key",
    "ack_requested",
    "decode_message",
    "handshake_response",
    "origin_allowed",
    "upgrade",
]
