"""The application: maps a request to its route and records per-route metrics."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from tracker.http import PrebuiltResponse, Reply, Request, Response, Upgrade
from tracker.metrics.registry import RouteCounters
from tracker.routes.cors import CorsPolicy
from tracker.routes.ops import OpsRoutes
from tracker.routes.proxy import PREFIX as PROXY_PREFIX
from tracker.routes.proxy import ReverseProxy
from tracker.routes.ratelimit import RateLimitGate
from tracker.routes.static import PREFIX as STATIC_PREFIX
from tracker.routes.static import StaticFiles
from tracker.routes.tracking import TrackingRoutes

Handler = Callable[[Request], Any]
TRACKING_PREFIXES = (("/tr/v1/tr/", "tr"), ("/tr/v1/str/", "str"), ("/tr/v1/img/", "img"))
# (prefix, the prefix without its slash, kind), for the dispatch loop.
_PREFIXES = tuple((prefix, prefix[:-1], kind) for prefix, kind in TRACKING_PREFIXES)
TRACKING_METHODS = ("GET", "HEAD", "POST")
READ_METHODS = ("GET", "HEAD")
POST_METHODS = ("POST",)


class TrackerApp:
    def __init__(self, tracking: TrackingRoutes, ops: OpsRoutes, cors: CorsPolicy,
                 counters: RouteCounters,
                 routes: dict[str, tuple[str, Handler, tuple[str, ...]]] | None = None,
                 rate_limit: RateLimitGate | None = None,
                 static: StaticFiles | None = None,
                 proxy: ReverseProxy | None = None,
                 prefixed: tuple[tuple[str, str, Handler, tuple[str, ...]], ...] = (),
                 fallback: Callable[[Request], Any] | None = None):
        """`routes`: more routes by exact path, as {path: (metric name, handler,
        methods)}; `prefixed`: routes by path prefix, as (prefix, metric name,
        handler, methods); `fallback`: asked last, answers or returns None (404);
        `rate_limit`: RateLimitPerDay, checked before any route but the exempt ones."""
        self._tracking = tracking
        self._cors = cors
        self._counters = counters
        self._rate_limit = rate_limit
        self._static = static
        self._proxy = proxy
        self._prefixed = prefixed
        self._fallback = fallback
        self._exact: dict[str, tuple[str, Handler, tuple[str, ...]]] = {
            "/ping": ("ping", ops.ping, READ_METHODS),
            "/health": ("health", ops.health, READ_METHODS),
            "/status": ("status", ops.status, READ_METHODS),
            "/metrics": ("metrics", ops.metrics, READ_METHODS),
            **(routes or {}),
        }
        # A single event by GET or POST, the most frequent request, and a batch
        # of plain events are answered by compiled code that hands everything
        # else to handle_general. A rate limit is checked before any route, so
        # it keeps every request general.
        lane = tracking.one_event_path(counters, self.handle_general) if rate_limit is None \
            else None
        self.handle: Callable[[Request], Reply | Awaitable[Reply]] = (
            lane.handle if lane is not None else self.handle_general)

    def handle_general(self, request: Request,
                       parsed: tuple[list[Any], bool] | None = None) -> Reply | Awaitable[Reply]:
        """Any request (`handle` is this, or the compiled path in front of it);
        `parsed`: a tracking POST's events, when the compiled path parsed them."""
        started = perf_counter()
        route, result = self._dispatch(request, parsed)
        kind = type(result)
        # The type test first: inspect.isawaitable is slow for the common replies.
        if kind is not PrebuiltResponse and kind is not Response and inspect.isawaitable(result):
            return self._finish_later(route, result, started)
        status = result.response.status if kind is Upgrade else result.status
        self._counters.record(route, status, perf_counter() - started)
        return result

    async def _finish_later(self, route: str, result: Awaitable[Reply],
                            started: float) -> Reply:
        # A StreamingResponse (the proxy's) is recorded here, when its head is
        # ready to go out: its status and the time to the upstream's head.
        response = await result
        self._counters.record(route, response.status, perf_counter() - started)
        return response

    def _dispatch(self, request: Request,
                  parsed: tuple[list[Any], bool] | None = None) -> tuple[str, Any]:
        if self._rate_limit is not None:
            refusal = self._rate_limit.refusal(request)
            if refusal is not None:
                return "rate_limited", refusal
        path = request.path
        for prefix, bare, kind in _PREFIXES:
            if path.startswith(prefix) or path == bare:
                if request.method == "OPTIONS":
                    return "preflight", self._cors.preflight(request)
                if request.method not in TRACKING_METHODS:
                    return kind, _not_allowed(TRACKING_METHODS)
                return kind, self._tracking.handle(request, kind, len(prefix), parsed)
        if self._proxy is not None and path.startswith(PROXY_PREFIX):
            return "proxy", self._proxy.handle(request)
        if self._static is not None and path.startswith(STATIC_PREFIX):
            if request.method not in READ_METHODS:
                return "pub", _not_allowed(READ_METHODS)
            return "pub", self._static.handle(request)
        if request.method == "OPTIONS" and path.startswith("/tr/v1/"):
            return "preflight", self._cors.preflight(request)
        exact = self._exact.get(path)
        if exact is not None:
            route, handler, methods = exact
            if request.method not in methods:
                return route, _not_allowed(methods)
            return route, handler(request)
        for prefix, route, handler, methods in self._prefixed:
            if path.startswith(prefix):
                if request.method not in methods:
                    return route, _not_allowed(methods)
                return route, handler(request)
        if self._fallback is not None:
            answer = self._fallback(request)
            if answer is not None:
                return "short_link", answer
        return "not_found", Response.error(404, "no such route")


def _not_allowed(methods: tuple[str, ...]) -> Response:
    allow = ", ".join((*methods, "OPTIONS") if "POST" in methods else methods)
    return Response.error(405, "method not allowed on this route", [("Allow", allow)])
