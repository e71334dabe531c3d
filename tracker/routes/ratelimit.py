"""RateLimitPerDay at the door: 429 with Retry-After once a client IP used its day."""

from __future__ import annotations

import time

from tracker.events import ClientIpResolver
from tracker.http import Request, Response
from tracker.ratelimit import DailyRateLimiter

# Probes and scrapers must keep working for a client that is over its limit.
EXEMPT_PATHS = frozenset({"/health", "/ping", "/metrics", "/status"})


class RateLimitGate:
    def __init__(self, limiter: DailyRateLimiter, ip_resolver: ClientIpResolver):
        self._limiter = limiter
        self._ips = ip_resolver

    def refusal(self, request: Request) -> Response | None:
        """None when the request may go on, else the 429 to answer with."""
        if request.path in EXEMPT_PATHS or request.method == "OPTIONS":
            return None
        h = request.headers
        ip = self._ips.resolve(request.peer_ip, h.get("x-forwarded-for"), h.get("x-real-ip"))
        allowed, retry_after = self._limiter.check(ip, time.time())
        if allowed:
            return None
        return Response.error(429, "daily request limit reached for this address; retry later",
                              [("Retry-After", str(retry_after))])
