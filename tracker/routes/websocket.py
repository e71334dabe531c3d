"""/tr/v1/ws: events over a WebSocket, each message appended to the log before its ack."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tracker.events import FieldError
from tracker.http import Request, Response, ServerState, Upgrade
from tracker.model.tables import EVENTS
from tracker.routes.ingest import Ingestor
from tracker.routes.tracking import TrackingRoutes, carry_ids
from tracker.wal import WalFullError
from tracker.ws import CloseError, WsLimits, upgrade

# RFC 6455 "Try Again Later": the log is full, as 503 is for HTTP.
TRY_AGAIN_LATER = 1013


class WebSocketRoute:
    def __init__(self, tracking: TrackingRoutes, ingestor: Ingestor,
                 limits: WsLimits, allow_origin: tuple[str, ...],
                 server_state: Callable[[], ServerState | None]):
        self._tracking = tracking
        self._ingest = ingestor
        self._limits = limits
        self._allow_origin = allow_origin
        self._server_state = server_state

    def handle(self, request: Request) -> Response | Upgrade:
        ctx = self._tracking.context(request)  # the handshake's client, cookies and agent

        async def on_message(items: list[Any], is_batch: bool) -> int:
            nonlocal ctx
            # The socket lives long: each message gets its own server time.
            now = ctx._replace(now_ms=int(time.time() * 1000))
            place = self._tracking.place_of(ctx.client_ip)
            rows = []
            for item in items:
                if not isinstance(item, dict):
                    continue
                try:
                    row, update = self._tracking.build_event(item, now, place)
                except FieldError:
                    continue  # a bad event is dropped; the ack counts what was accepted
                rows.append(row)
                if update.headers:  # no cookies over a socket: its events share the ids
                    ctx = carry_ids(ctx, item, row)
                    now = ctx._replace(now_ms=now.now_ms)
            if not rows:
                return 0
            try:
                # Not grouped: the ack goes out on this socket, not through the
                # HTTP layer's end-of-turn commit, so the append must happen now.
                durable = self._ingest.append(EVENTS, rows)
            except WalFullError:
                raise CloseError(TRY_AGAIN_LATER, "the server is overloaded") from None
            if durable is not None:
                await durable
            return len(rows)

        return upgrade(request, on_message, self._limits, allow_origin=self._allow_origin,
                       server=self._server_state())
