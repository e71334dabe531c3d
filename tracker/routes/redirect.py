"""/tr/v1/rdr/?url=...: a tracked redirect, only to hosts in `Domains` (no open redirect)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tracker._fast import decode_query
from tracker.events import FieldError
from tracker.http import Request, Response
from tracker.model.tables import EVENTS
from tracker.routes.ingest import Ingestor, after_durable, wal_full
from tracker.routes.tracking import TrackingRoutes
from tracker.wal import WalFullError

NO_STORE = ("Cache-Control", "no-store")


def redirect_refusal(target: str, domains: frozenset[str]) -> str | None:
    """Why `target` may not be redirected to, or None when it may.

    Allowed: a path on this host ("/x", never "//x"), or an http(s) URL whose
    host is one of `Domains`. Anything with whitespace, control characters,
    backslashes or user info is refused: browsers read those differently.
    """
    if not target or any(c in target for c in "\\ \t\r\n\x00") or not target.isprintable():
        return "url is empty or holds characters a redirect cannot carry"
    if target.startswith("/"):
        return None if not target.startswith("//") else "url must not start with //"
    try:
        parts = urlsplit(target)
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be a path or an http(s) URL"
    if "@" in parts.netloc:
        return "url must not hold user info"
    if parts.hostname.lower().rstrip(".") not in domains:
        return "url's host is not one of the Domains this tracker redirects to"
    return None


class RedirectRoute:
    def __init__(self, tracking: TrackingRoutes, ingestor: Ingestor, domains: tuple[str, ...]):
        self._tracking = tracking
        self._ingest = ingestor
        self._domains = frozenset(d.lower().rstrip(".") for d in domains)

    def handle(self, request: Request) -> Any:
        try:
            fields: dict[str, Any] = decode_query(request.query)
        except ValueError as e:
            return Response.error(400, f"bad query string: {e}")
        target = fields.pop("url", "")
        refusal = redirect_refusal(target, self._domains)
        if refusal is not None:
            return Response.error(400, refusal)
        fields.setdefault("ename", "rdr")
        fields.setdefault("etyp", "redirect")
        fields["urlto"] = target  # not a column: lands in params
        try:
            ctx = self._tracking.context(request)
            row, cookies = self._tracking.build_event(fields, ctx,
                                                      self._tracking.place_of(ctx.client_ip))
        except FieldError as e:
            return Response.error(400, str(e))
        try:
            durable = self._ingest.append(EVENTS, [row])
        except WalFullError:
            return wal_full()
        response = Response.empty(302, [("Location", target), NO_STORE,
                                         *cookies.headers])
        return response if durable is None else after_durable(durable, response)

