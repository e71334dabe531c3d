"""Short links: the admin API (SPEC 3.3) and the hits on `https://{host}/{slug}`.

    POST   /tr/v1/rpi/redirect            {"urlfrom","urlto","oid"} -> 201
    GET    /tr/v1/rpi/redirects/{host}    -> 200 [links]
    DELETE /tr/v1/rpi/redirect?urlfrom=   -> 204 (404 when there is no such link)
    GET    /{slug} with Host: {host}      -> 302 to urlto, and a tracked event

A change is durable in the worker's log before it is answered; this worker
uses it at once, the others within about a second (tracker/links). Whether a
link exists is asked of the shipper, which sees every worker's changes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tracker._fast import decode_query
from tracker.events import FieldError
from tracker.events.campaign import campaign_from_url
from tracker.http import Request, Response
from tracker.links import LinkError, change_row, check_urlto, parse_urlfrom
from tracker.links.changes import canonical_urlfrom, public_link
from tracker.links.watcher import LinkTable
from tracker.model.tables import EVENTS, REDIRECT_HISTORY
from tracker.routes.adminauth import AdminAuth
from tracker.routes.body import BodyError, parse_json_object
from tracker.routes.ingest import Ingestor, after_durable, wal_full
from tracker.routes.tracking import TrackingRoutes
from tracker.runtime.readclient import ShipperReads, ShipperUnavailable
from tracker.wal import WalFullError

LIST_PREFIX = "/tr/v1/rpi/redirects/"
NO_STORE = ("Cache-Control", "no-store")
MAX_OID_CHARS = 256


class ShortLinks:
    def __init__(self, tracking: TrackingRoutes, ingestor: Ingestor, links: LinkTable,
                 reads: ShipperReads, auth: AdminAuth, domains: tuple[str, ...],
                 max_body_bytes: int):
        self._tracking = tracking
        self._ingest = ingestor
        self._links = links
        self._reads = reads
        self._auth = auth
        self._domains = frozenset(d.lower().rstrip(".") for d in domains)
        self._max_body = max_body_bytes

    # -- admin ------------------------------------------------------------------

    def change(self, request: Request) -> Any:
        """POST creates or replaces a link, DELETE removes one."""
        refusal = self._auth.refusal(request)
        if refusal is not None:
            return refusal
        if request.method == "DELETE":
            return self._delete(request)
        return self._create(request)

    async def _create(self, request: Request) -> Response:
        try:
            body = parse_json_object(request.body, request.headers.get("content-encoding"),
                                     self._max_body)
            host, path = parse_urlfrom(body.get("urlfrom"), self._domains)
            urlto = check_urlto(body.get("urlto"))
            oid = body.get("oid")
            if oid is not None and (not isinstance(oid, str) or len(oid) > MAX_OID_CHARS):
                raise LinkError(f"oid must be a string of at most {MAX_OID_CHARS} characters")
        except BodyError as e:
            return Response.error(e.status, e.message)
        except LinkError as e:
            return Response.error(400, str(e))
        existing = await self._existing(host, path)
        if isinstance(existing, Response):
            return existing
        action = "create" if existing is None else "update"
        return await self._record(change_row(host, path, action, urlto, oid), 201)

    async def _delete(self, request: Request) -> Response:
        try:
            host, path = parse_urlfrom(decode_query(request.query).get("urlfrom"),
                                       self._domains)
        except (LinkError, ValueError) as e:
            return Response.error(400, str(e))
        existing = await self._existing(host, path)
        if isinstance(existing, Response):
            return existing
        if existing is None:
            return Response.error(404, "no such short link")
        return await self._record(change_row(host, path, "delete", oid=existing["oid"]), 204)

    async def listing(self, request: Request) -> Response:
        refusal = self._auth.refusal(request)
        if refusal is not None:
            return refusal
        host = unquote(request.path[len(LIST_PREFIX):]).lower().rstrip(".")
        if host not in self._domains:
            return Response.error(404, "this tracker serves no short links for that host")
        try:
            rows = await self._reads.links(host)
        except ShipperUnavailable:
            return _unavailable()
        return Response.json(200, [public_link(row) for row in rows], [NO_STORE])

    async def _existing(self, host: str, path: str) -> dict[str, Any] | Response | None:
        """The link's newest change row, None when there is no such link, or a 503."""
        try:
            rows = await self._reads.links(host)
        except ShipperUnavailable:
            return _unavailable()
        urlfrom = canonical_urlfrom(host, path)
        return next((row for row in rows if row["urlfrom"] == urlfrom), None)

    async def _record(self, row: dict[str, Any], status: int) -> Response:
        try:
            durable = self._ingest.append(REDIRECT_HISTORY, [row])
        except WalFullError:
            return wal_full()
        if durable is not None:
            await durable
        self._links.remember(row)
        if status == 204:
            return Response.empty(204, [NO_STORE])
        return Response.json(status, {**public_link(row), "action": row["action"]}, [NO_STORE])

    # -- hits -------------------------------------------------------------------

    def resolve(self, request: Request) -> Any:
        """The answer to a hit on a short link, or None when the request is not one."""
        if request.method not in ("GET", "HEAD"):
            return None
        host = request.headers.get("host", "")
        link = self._links.resolve(host, request.path)
        if link is None:
            return None
        target = link["urlto"]
        location = [("Location", target), NO_STORE]
        if request.method == "HEAD":  # link checkers and previews: not a visit
            return Response.empty(302, location)
        scheme = "https" if request.tls else "http"
        fields: dict[str, Any] = {
            "etyp": "redirect", "ename": "short_rdr", "url": f"{scheme}://{host}{request.path}",
            "urlto": target,  # not a column: lands in params
        }
        if link["oid"]:
            fields["oid"] = link["oid"]
        fields.update(campaign_from_url(target))  # the target's UTM fields are the hit's
        try:
            ctx = self._tracking.context(request)
            row, cookies = self._tracking.build_event(fields, ctx,
                                                      self._tracking.place_of(ctx.client_ip))
            durable = self._ingest.append(EVENTS, [row])
        except (FieldError, WalFullError):
            # The visitor still gets where the link points; only the count is lost.
            return Response.empty(302, location)
        response = Response.empty(302, [*location, *cookies.headers])
        return response if durable is None else after_durable(durable, response)


def _unavailable() -> Response:
    return Response.error(503, "the short links cannot be read now; retry",
                          [("Retry-After", "1")])
