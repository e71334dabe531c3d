"""The tracking routes: /tr/ (2xx), /str/ (returns eids), /img/ (a 1x1 GIF)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tracker._fast import decode_path_pairs, decode_query
from tracker.events import ClientIpResolver, EventBuilder, FieldError, RequestContext
from tracker.http import Request, Response
from tracker.model.tables import EVENTS
from tracker.routes.body import BodyError, decompress, parse_events
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import WAL_FULL_RETRY_AFTER, Ingestor
from tracker.wal import WalFullError

TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = ("Cache-Control", "no-store")
JSON_TYPES = ("application/json", "text/plain", "application/x-ndjson", "")


class TrackingRoutes:
    """Turns tracking requests into `events` rows appended to the log."""

    def __init__(self, builder: EventBuilder, ip_resolver: ClientIpResolver,
                 ingestor: Ingestor, cors: CorsPolicy, max_body_bytes: int):
        self._builder = builder
        self._ips = ip_resolver
        self._ingest = ingestor
        self._cors = cors
        self._max_body = max_body_bytes

    # -- request context ---------------------------------------------------

    def context(self, request: Request) -> RequestContext:
        h = request.headers
        consent = request.cookie("CookieConsent")
        return RequestContext(
            client_ip=self._ips.resolve(request.peer_ip, h.get("x-forwarded-for"),
                                        h.get("x-real-ip")),
            user_agent=h.get("user-agent", ""),
            accept_language=h.get("accept-language", ""),
            host=h.get("host", ""),
            tls=request.tls,
            now_ms=int(time.time() * 1000),
            cookie_vid=request.cookie("vid"),
            cookie_sid=request.cookie("sid"),
            cookie_consent=int(consent) if consent and consent.isdigit() else None,
        )

    # -- fields from the request ------------------------------------------

    def _url_fields(self, request: Request, prefix_len: int) -> dict[str, Any]:
        path = request.path
        fields: dict[str, Any] = (decode_path_pairs(path, prefix_len)
                                  if len(path) > prefix_len else {})
        if request.query:
            for k, v in decode_query(request.query).items():
                fields.setdefault(k, v)
        return fields

    def _candidates(self, request: Request, prefix_len: int) -> tuple[list[Any], bool]:
        """The raw event objects of a request, and whether it was a batch."""
        if request.method in ("GET", "HEAD"):
            return [self._url_fields(request, prefix_len)], False
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in JSON_TYPES:
            raise BodyError(415, "send JSON (application/json or text/plain)")
        body = decompress(request.body, request.headers.get("content-encoding"),
                          self._max_body)
        items, is_batch = parse_events(body)
        if request.query or len(request.path) > prefix_len:
            # Fields in the URL apply to every event of the body that lacks them.
            extra = self._url_fields(request, prefix_len)
            for item in items:
                if isinstance(item, dict):
                    for k, v in extra.items():
                        item.setdefault(k, v)
        return items, is_batch

    # -- the routes --------------------------------------------------------

    def handle(self, request: Request, kind: str, prefix_len: int
               ) -> Response | asyncio.Future[Response] | Any:
        """kind is "tr", "str" or "img"."""
        cors = self._cors.headers(request)
        try:
            items, is_batch = self._candidates(request, prefix_len)
        except BodyError as e:
            return Response.error(e.status, e.message, cors)
        except ValueError as e:
            return Response.error(400, f"bad field in the URL: {e}", cors)
        ctx = self.context(request)
        rows: list[dict[str, Any]] = []
        eids: list[str | None] = []
        rejected: list[dict[str, Any]] = []
        cookies: tuple[str, ...] = ()
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rejected.append({"index": index, "error": "an event must be a JSON object"})
                eids.append(None)
                continue
            try:
                row, update = self._builder.build(item, ctx)
            except FieldError as e:
                rejected.append({"index": index, "error": str(e)})
                eids.append(None)
                continue
            rows.append(row)
            eids.append(row["eid"])
            if update.set_cookie and not cookies:
                cookies = update.set_cookie
        if not rows and not is_batch:
            return Response.error(400, rejected[0]["error"], cors)
        headers = [*cors, NO_STORE, *(("Set-Cookie", c) for c in cookies)]
        if not rows:
            return Response.json(400, {"error": "no valid events in the request",
                                       "accepted": 0, "rejected": rejected}, headers)
        try:
            durable = self._ingest.append(EVENTS, rows)
        except WalFullError:
            return Response.error(503, "the server is overloaded; retry later",
                                  [*cors, ("Retry-After", str(WAL_FULL_RETRY_AFTER))])
        response = self._answer(kind, is_batch, rows, eids, rejected, headers)
        if durable is None:
            return response
        return _after(durable, response)

    def _answer(self, kind: str, is_batch: bool, rows: list[dict[str, Any]],
                eids: list[str | None], rejected: list[dict[str, Any]],
                headers: list[tuple[str, str]]) -> Response:
        if kind == "img":
            return Response.raw(200, "image/gif", TRANSPARENT_GIF, headers)
        if kind == "str":
            if is_batch:
                body: dict[str, Any] = {"eids": eids, "accepted": len(rows)}
                if rejected:
                    body["rejected"] = rejected
                return Response.json(200, body, headers)
            return Response.json(200, {"eid": rows[0]["eid"]}, headers)
        if is_batch:
            return Response.json(200, {"accepted": len(rows), "rejected": rejected}, headers)
        return Response.empty(204, headers)


async def _after(durable: asyncio.Future[Any], response: Response) -> Response:
    await durable
    return response
