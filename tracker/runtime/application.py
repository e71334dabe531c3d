"""The worker's application, assembled from the config: every route and what it needs.

The one place that knows which route answers which path. The worker process
(tracker/runtime/worker.py) owns the log, the server and the timers; it hands
them in here and gets back the application to serve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.config import Config
from tracker.consent import ConsentGate
from tracker.events import BuilderConfig, ClientIpResolver, EventBuilder
from tracker.geo import GeoIp
from tracker.links import links_path
from tracker.links.watcher import LinkTable
from tracker.metrics.registry import RouteCounters
from tracker.ratelimit import DailyRateLimiter, ip_key_hasher
from tracker.routes.adminauth import AdminAuth
from tracker.routes.app import POST_METHODS, READ_METHODS, TrackerApp
from tracker.routes.consent import ConsentRoutes
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor
from tracker.routes.ops import OpsRoutes
from tracker.routes.privacy import PrivacyRoutes
from tracker.routes.proxy import ReverseProxy
from tracker.routes.ratelimit import RateLimitGate
from tracker.routes.redirect import RedirectRoute
from tracker.routes.revenue import RevenueRoute
from tracker.routes.shortlinks import LIST_PREFIX as SHORT_LINK_LIST_PREFIX
from tracker.routes.shortlinks import ShortLinks
from tracker.routes.static import StaticFiles
from tracker.routes.tracking import TrackingRoutes
from tracker.routes.websocket import WebSocketRoute
from tracker.runtime.readapi import read_socket_path
from tracker.runtime.readclient import ShipperReads
from tracker.runtime.secrets import hash_secret
from tracker.ws import WsLimits


def rate_limit_path(config: Config) -> Path:
    """The counter table every worker maps (the supervisor prepares it)."""
    return config.run_directory / "ratelimit.shm"


def build_application(config: Config, ingestor: Ingestor, counters: RouteCounters,
                      worker_state: Callable[[], dict[str, Any]],
                      server_state: Callable[[], Any]) -> tuple[TrackerApp, LinkTable]:
    """The application, and the short links table the worker keeps reloading.

    `worker_state` is what /status publishes of this worker; `server_state` the
    HTTP server's state (None before it listens), for WebSocket connection counts.
    """
    secret = hash_secret(config)
    rules = BuilderConfig.from_secret(secret, anonymize_ip=config.anonymize_ip,
                                      cookieless=config.cookieless)
    ips = ClientIpResolver(list(config.trusted_proxies))
    cors = CorsPolicy(config.allow_origin)
    geo = GeoIp(Path(config.geoip_database)) if config.geoip_database else None
    tracking = TrackingRoutes(EventBuilder(rules), ips, ingestor, cors, config.max_body_bytes,
                              geo=geo, gate=ConsentGate(cookieless=config.cookieless))
    ops = OpsRoutes(config.run_directory, config.max_disk_mb << 20, config.workers,
                    worker_state)
    privacy = PrivacyRoutes(geo, cors)
    redirect = RedirectRoute(tracking, ingestor, config.domains)
    websocket = WebSocketRoute(
        tracking, ingestor,
        WsLimits(max_message_bytes=config.max_body_bytes, idle_timeout=config.connection_timeout),
        config.allow_origin, server_state)
    gate = None
    if config.rate_limit_per_day > 0:
        limiter = DailyRateLimiter(rate_limit_path(config), config.rate_limit_per_day,
                                   ip_key_hasher(secret))
        gate = RateLimitGate(limiter, ips)
    revenue = RevenueRoute(ingestor, cors, config.max_body_bytes)
    reads = ShipperReads(read_socket_path(config))
    links = LinkTable(links_path(config.data_directory))
    short = ShortLinks(tracking, ingestor, links, reads, AdminAuth(config.admin_tokens),
                       config.domains, config.max_body_bytes)
    consent = ConsentRoutes(tracking, ingestor, reads, rules.hasher, config.anonymize_ip, geo,
                            cors, config.max_body_bytes)
    static = StaticFiles(Path(config.static_directory)) if config.static_directory else None
    proxy = ReverseProxy(config.proxy_url, ips) if config.proxy_url else None
    app = TrackerApp(
        tracking, ops, cors, counters, rate_limit=gate, static=static, proxy=proxy,
        fallback=short.resolve,
        prefixed=((SHORT_LINK_LIST_PREFIX, "rpi", short.listing, READ_METHODS),),
        routes={
            "/tr/v1/rpi/redirect": ("rpi", short.change, ("POST", "DELETE")),
            "/tr/v1/ppi/agree": ("agree", consent.handle, ("GET", "HEAD", "POST")),
            "/tr/v1/ltv/": ("ltv", revenue.handle, POST_METHODS),
            "/tr/v1/ltv": ("ltv", revenue.handle, POST_METHODS),
            "/tr/v1/ppi/jds": ("jds", privacy.jurisdictions, READ_METHODS),
            "/tr/v1/ppi/geoip": ("geoip", privacy.geoip, READ_METHODS),
            "/tr/v1/rdr/": ("rdr", redirect.handle, READ_METHODS),
            "/tr/v1/rdr": ("rdr", redirect.handle, READ_METHODS),
            "/tr/v1/ws": ("ws", websocket.handle, READ_METHODS),
        })
    return app, links
