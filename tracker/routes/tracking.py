"""The tracking routes: /tr/ (2xx), /str/ (returns eids), /img/ (a 1x1 GIF)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tracker._fast import OneEventPath, decode_url_fields, known_keys
from tracker.consent import ConsentGate, effective_cflags
from tracker.events import ClientIpResolver, EventBuilder, FieldError, RequestContext
from tracker.events.cookies import COOKIE_PARTS
from tracker.geo import GeoIp
from tracker.http import HttpDate, PrebuiltResponse, Request, Response
from tracker.metrics.registry import LATENCY_BUCKETS, RouteCounters
from tracker.model.tables import EVENTS
from tracker.routes.body import MAX_EVENTS_PER_REQUEST, BodyError, decompress, parse_events
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor, after_durable, wal_full
from tracker.wal import WalFullError

TRANSPARENT_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = ("Cache-Control", "no-store")
Headers = tuple[tuple[str, str], ...]
JSON_TYPES = ("application/json", "text/plain", "application/x-ndjson", "")
_new_context = tuple.__new__


class TrackingRoutes:
    """Turns tracking requests into `events` rows appended to the log."""

    def __init__(self, builder: EventBuilder, ip_resolver: ClientIpResolver,
                 ingestor: Ingestor, cors: CorsPolicy, max_body_bytes: int, *,
                 geo: GeoIp | None = None, gate: ConsentGate | None = None):
        """`geo` places every event (GeoIP wins over declared values); `gate`
        switches an event to the cookieless form where its place requires consent
        and the analytics bit is missing (SPEC 3.4)."""
        self._builder = builder
        # Decoded URL keys that are field names come back as the field table's own
        # strings: no new string, no hashing, found by identity (pathpairs).
        self._known_keys = known_keys(builder.field_names)
        self._geo = geo
        self._gate = gate if gate is not None else ConsentGate()
        self._ips = ip_resolver
        self._ingest = ingestor
        self._cors = cors
        self._max_body = max_body_bytes
        # The answers to a single event on /tr/ and /img/ are constant but for
        # the cookies (and CORS when it reflects the Origin): encoded once, the
        # per-request headers are added to the bytes (PrebuiltResponse.with_headers).
        constant = cors.constant_headers
        self._constant_cors = constant
        fixed = [*constant, NO_STORE] if constant is not None else []
        self._no_content = PrebuiltResponse(Response.empty(204, fixed))
        self._plain = geo is None and constant is not None  # see _one_event
        self._gif = PrebuiltResponse(Response.raw(200, "image/gif", TRANSPARENT_GIF, fixed))

    def one_event_path(self, counters: RouteCounters,
                       fallback: Callable[[Request], Any]) -> Any:
        """The compiled path for a single event by GET or POST, or a batch
        (tracker/_fast/oneevent.pyx), or None where its answers could differ
        from the general path's: with the twins, GeoIP, reflected CORS,
        cookieless events, or a log that syncs each append. `fallback`
        answers what it does not take."""
        builder = self._builder
        if (OneEventPath is None or not self._plain or builder.cookieless
                or not self._ingest.grouped):
            return None
        path = OneEventPath(
            builder.plain_fields, builder.max_field_chars,
            max_params_bytes=builder.max_params_bytes, personal_names=builder.personal_names,
            new_client=builder._new_client, campaign=builder._campaign,  # its hooks
            resolve_ip=self._ips.resolve, append=self._ingest.append_encoded,
            append_array=self._ingest.append_array, table_id=EVENTS.table_id,
            batch_answer=self._constant_batch_answer,
            max_batch_events=MAX_EVENTS_PER_REQUEST, answers=(self._no_content, self._gif),
            cookie_parts=COOKIE_PARTS, clock=HttpDate(), wal_full_error=WalFullError,
            full_answer=wal_full(self._constant_cors), counters=counters,
            latency_bounds=LATENCY_BUCKETS, fallback=fallback)
        counters.add_flusher(path.flush_metrics)
        return path

    # -- request context ---------------------------------------------------

    def context(self, request: Request) -> RequestContext:
        h = request.headers
        if "cookie" in h:
            vid = request.cookie("vid")
            sid = request.cookie("sid")
            consent = request.cookie("CookieConsent")
        else:  # most tracking requests: skip the cookie parsing
            vid = sid = consent = None
        # Made as a tuple: the NamedTuple's own __new__ is a Python function, and
        # this runs once per request.
        return _new_context(RequestContext, (
            self._ips.resolve(request.peer_ip, h.get("x-forwarded-for"), h.get("x-real-ip")),
            h.get("user-agent", ""),  # user_agent
            h.get("accept-language", ""),  # accept_language
            h.get("host", ""),  # host
            request.tls,
            int(time.time() * 1000),  # now_ms
            vid,
            sid,
            int(consent) if consent and consent.isdigit() else None,
        ))

    def _cors_headers(self, request: Request) -> Sequence[tuple[str, str]]:
        constant = self._constant_cors
        return constant if constant is not None else self._cors.headers(request)

    # -- fields from the request ------------------------------------------

    def _url_fields(self, request: Request, prefix_len: int) -> dict[str, Any]:
        """Path pairs, then the query fields the path did not give."""
        return decode_url_fields(request.path, prefix_len, request.query, self._known_keys)

    def _candidates(self, request: Request, prefix_len: int) -> tuple[list[Any], bool]:
        """The raw event objects of a request, and whether it was a batch."""
        if request.method in ("GET", "HEAD"):
            return [self._url_fields(request, prefix_len)], False
        ctype = request.headers.get("content-type", "")
        if ctype != "application/json":  # else normalize: parameters, blanks, case
            ctype = ctype.split(";")[0].strip().lower()
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

    def handle(self, request: Request, kind: str, prefix_len: int,
               parsed: tuple[list[Any], bool] | None = None) -> Any:
        """kind is "tr", "str" or "img". Returns a reply or an awaitable of one.
        `parsed`: the events of a POST without URL fields, as `_candidates`
        would give them, when the compiled path parsed the body already."""
        try:
            if request.method == "GET":  # the pixel form, inline
                items, is_batch = [self._url_fields(request, prefix_len)], False
            elif parsed is not None:
                items, is_batch = parsed
            else:
                items, is_batch = self._candidates(request, prefix_len)
        except BodyError as e:
            return Response.error(e.status, e.message, self._cors_headers(request))
        except ValueError as e:
            return Response.error(400, f"bad field in the URL: {e}",
                                  self._cors_headers(request))
        if not is_batch and kind != "str" and self._plain:
            return self._one_event(kind, items[0], request)
        ctx = self.context(request)
        place = self.place_of(ctx.client_ip)
        if is_batch:
            rows, eids, rejected, cookies = self._build_batch(items, ctx, place)
            if not rows:
                headers = [*self._cors_headers(request), NO_STORE]
                return Response.json(400, {"error": "no valid events in the request",
                                           "accepted": 0, "rejected": rejected}, headers)
        else:  # one event, always an object (see _candidates)
            try:
                row, update = self.build_event(items[0], ctx, place)
            except FieldError as e:
                return Response.error(400, str(e), self._cors_headers(request))
            rows = [row]
            cookies = update.headers
        try:
            # Grouped: the answer leaves through the HTTP layer, which commits first.
            if is_batch:
                durable = self._ingest.append(EVENTS, rows, grouped=True)
            else:
                durable = self._ingest.append_row(EVENTS, rows[0])
        except WalFullError:
            return wal_full(self._cors_headers(request))
        if is_batch:
            response = self._answer_batch(request, kind, rows, eids, rejected, cookies)
        else:
            response = self._answer_one(request, kind, rows[0], cookies)
        if durable is None:
            return response
        return after_durable(durable, response)

    def _one_event(self, kind: str, fields: dict[str, Any], request: Request) -> Any:
        """`handle` for one event (by GET, or a POST of one object) on /tr/ or /img/
        with neither GeoIP nor a reflected Origin: the most frequent request, so
        the steps are inlined (same outcome as the general path, fewer calls)."""
        ctx = self.context(request)
        try:
            if "country" in fields:  # a declared place: the consent gate decides
                row, update = self.build_event(fields, ctx, None)
            else:
                row, update = self._builder.build(fields, ctx)
            durable = self._ingest.append_row(EVENTS, row)
        except FieldError as e:
            return Response.error(400, str(e), self._constant_cors)
        except WalFullError:
            return wal_full(self._constant_cors)
        prebuilt = self._gif if kind == "img" else self._no_content
        response = prebuilt.with_headers(update.headers) if update.headers else prebuilt
        return response if durable is None else after_durable(durable, response)

    def place_of(self, ip: str) -> dict[str, Any] | None:
        """The client's place columns from GeoIP (cached there), or None."""
        if self._geo is None:
            return None
        found = self._geo.lookup(ip)
        return found.columns() if found is not None else None

    def build_event(self, item: dict[str, Any], ctx: RequestContext,
                    place: dict[str, Any] | None,
                    with_cookies: bool = True) -> tuple[dict[str, Any], Any]:
        """One event's row: placed, gated by consent where its place requires it.
        `with_cookies=False`: no Set-Cookie lines (see EventBuilder.build)."""
        if place:
            item = {**item, **place}
        elif "country" not in item:  # no place known: nothing for the gate to decide
            return self._builder.build(item, ctx, None, with_cookies)
        country, region = item.get("country"), item.get("region")
        decision = self._gate.decide(effective_cflags(item, ctx.cookie_consent),
                                     country if isinstance(country, str) else None,
                                     region if isinstance(region, str) else None)
        return self._builder.build(item, ctx, decision.cookieless_form, with_cookies)

    def _build_batch(self, items: list[Any], ctx: RequestContext,
                     place: dict[str, Any] | None = None
                     ) -> tuple[list[dict[str, Any]], list[str | None],
                                list[dict[str, Any]], Headers]:
        """Rows of the valid events, every event's eid (None if rejected), the
        rejections and the cookies to set (those of the first valid event that
        has any; the others share its ids). See EventCore.build_batch."""
        return self._builder.build_batch(items, ctx, place, self.build_event, carry_ids,
                                         FieldError)

    def _headers(self, request: Request, cookies: Headers) -> list[tuple[str, str]]:
        return [*self._cors_headers(request), NO_STORE, *cookies]

    def _answer_one(self, request: Request, kind: str, row: dict[str, Any],
                    cookies: Headers) -> Response | PrebuiltResponse:
        if kind == "str":
            return Response.json(200, {"eid": row["eid"]}, self._headers(request, cookies))
        prebuilt = self._gif if kind == "img" else self._no_content
        if self._constant_cors is None:
            return prebuilt.with_headers(self._headers(request, cookies))
        return prebuilt.with_headers(cookies) if cookies else prebuilt

    def _answer_batch(self, request: Request, kind: str, rows: list[dict[str, Any]],
                      eids: list[str | None], rejected: list[dict[str, Any]],
                      cookies: Headers) -> Response:
        if kind == "str":
            body: dict[str, Any] = {"eids": eids, "accepted": len(rows)}
            if rejected:
                body["rejected"] = rejected
            return Response.json(200, body, self._headers(request, cookies))
        return self._batch_answer(kind, len(rows), rejected, self._headers(request, cookies))

    def _constant_batch_answer(self, kind: str, accepted: int, cookies: Headers) -> Response:
        """The answer to a batch on /tr/ or /img/ all of whose events were taken,
        with the constant CORS headers (the compiled path's)."""
        return self._batch_answer(kind, accepted, [], [*(self._constant_cors or ()), NO_STORE,
                                                       *cookies])

    @staticmethod
    def _batch_answer(kind: str, accepted: int, rejected: list[dict[str, Any]],
                      headers: list[tuple[str, str]]) -> Response:
        if kind == "img":
            return Response.raw(200, "image/gif", TRANSPARENT_GIF, headers)
        return Response.json(200, {"accepted": accepted, "rejected": rejected}, headers)



def carry_ids(ctx: RequestContext, item: dict[str, Any], row: dict[str, Any]) -> RequestContext:
    """The context for the rest of a request's (or a socket's) events once one got
    its visitor and session ids from the cookies or as new ones: the others share
    them, as the cookies set with the answer will. Ids an event names itself
    stay its own."""
    vid = row.get("vid") if item.get("vid") is None else ctx.cookie_vid
    sid = row.get("sid") if item.get("sid") is None else ctx.cookie_sid
    if vid == ctx.cookie_vid and sid == ctx.cookie_sid:
        return ctx
    return ctx._replace(cookie_vid=vid, cookie_sid=sid)
