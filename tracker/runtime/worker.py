"""A worker process: the HTTP server, the request path and this worker's log."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import uvloop

from tracker.config import Config
from tracker.consent import ConsentGate
from tracker.events import BuilderConfig, ClientIpResolver, EventBuilder
from tracker.geo import GeoIp
from tracker.http import Limits, start_server
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
from tracker.routes.plainport import PlainPortApp
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
from tracker.runtime.lifecycle import setup_child
from tracker.runtime.readapi import read_socket_path
from tracker.runtime.readclient import ShipperReads
from tracker.runtime.secrets import hash_secret
from tracker.runtime.statefile import worker_state_path, write_state
from tracker.tls import AcmePaths, CertificateStore, FileChallengeStore, HttpsRedirect
from tracker.wal import Syncer, WalWriter
from tracker.ws import WsLimits

log = logging.getLogger(__name__)
PUBLISH_SECONDS = 0.5


def rate_limit_path(config: Config) -> Path:
    """The counter table every worker maps (the supervisor prepares it)."""
    return config.run_directory / "ratelimit.shm"


def certificate_store(config: Config) -> CertificateStore:
    """The HTTPS certificate: the configured files, or the one ACME keeps renewed."""
    if config.letsencrypt_domains:
        return CertificateStore(AcmePaths(config.data_directory,
                                          config.letsencrypt_domains).certificate)
    assert config.tls_cert and config.tls_key
    return CertificateStore(Path(config.tls_cert), Path(config.tls_key))


def worker_quota_bytes(config: Config) -> int:
    """Each worker gets an equal share of MaxDiskMB for its own log directory."""
    return (config.max_disk_mb << 20) // config.workers


def worker_main(config: Config, index: int) -> None:
    setup_child(f"worker-{index}", config.log_level)
    uvloop.run(_serve(config, index))


class _Worker:
    """Everything one worker owns, built from the config."""

    def __init__(self, config: Config, index: int):
        self.config = config
        self.index = index
        self.writer = WalWriter(config.wal_directory / f"w{index}", worker=index,
                                fsync=config.fsync,
                                segment_bytes=config.wal_segment_mb << 20,
                                quota_bytes=worker_quota_bytes(config))
        self.syncer = Syncer(self.writer, config.fsync, config.fsync_interval_ms)
        self.ingestor = Ingestor(self.writer, self.syncer)
        self.counters = RouteCounters()
        self.server: Any = None
        secret = hash_secret(config)
        rules = BuilderConfig.from_secret(secret, anonymize_ip=config.anonymize_ip,
                                          cookieless=config.cookieless)
        ips = ClientIpResolver(list(config.trusted_proxies))
        cors = CorsPolicy(config.allow_origin)
        geo = GeoIp(Path(config.geoip_database)) if config.geoip_database else None
        tracking = TrackingRoutes(EventBuilder(rules), ips,
                                  self.ingestor, cors, config.max_body_bytes, geo=geo,
                                  gate=ConsentGate(cookieless=config.cookieless))
        ops = OpsRoutes(config.run_directory, config.max_disk_mb << 20, config.workers,
                        self.state)
        privacy = PrivacyRoutes(geo, cors)
        redirect = RedirectRoute(tracking, self.ingestor, config.domains)
        websocket = WebSocketRoute(
            tracking, self.ingestor,
            WsLimits(max_message_bytes=config.max_body_bytes,
                     idle_timeout=config.connection_timeout),
            config.allow_origin, lambda: self.server.state if self.server else None)
        gate = None
        if config.rate_limit_per_day > 0:
            limiter = DailyRateLimiter(rate_limit_path(config), config.rate_limit_per_day,
                                       ip_key_hasher(secret))
            gate = RateLimitGate(limiter, ips)
        revenue = RevenueRoute(self.ingestor, cors, config.max_body_bytes)
        reads = ShipperReads(read_socket_path(config))
        self.links = LinkTable(links_path(config.data_directory))
        short = ShortLinks(tracking, self.ingestor, self.links, reads,
                           AdminAuth(config.admin_tokens), config.domains, config.max_body_bytes)
        consent = ConsentRoutes(tracking, self.ingestor, reads,
                                rules.hasher, config.anonymize_ip, geo, cors,
                                config.max_body_bytes)
        static = StaticFiles(Path(config.static_directory)) if config.static_directory else None
        proxy = ReverseProxy(config.proxy_url, ips) if config.proxy_url else None
        self.app = TrackerApp(tracking, ops, cors, self.counters, rate_limit=gate, static=static,
                              proxy=proxy, fallback=short.resolve, prefixed=(
            (SHORT_LINK_LIST_PREFIX, "rpi", short.listing, READ_METHODS),
        ), routes={
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

    def state(self) -> dict[str, Any]:
        return {
            "worker": self.index,
            "pid": os.getpid(),
            "updated_at": time.time(),
            "events_received": self.ingestor.events_received,
            "rejected_wal_full": self.ingestor.rejected_full,
            "appended_events": self.ingestor.appended_events,
            "wal_bytes": self.ingestor.wal_bytes,
            "connections": self.server.connections if self.server else 0,
            "connections_rejected": self.server.state.connections_rejected if self.server else 0,
            "responses": self.server.state.responses_by_class() if self.server else {},
            "routes": self.counters.to_dict(),
        }

    async def publish_forever(self) -> None:
        loop = asyncio.get_running_loop()
        path = worker_state_path(self.config.run_directory, self.index)
        while True:
            await loop.run_in_executor(None, self.writer.refresh_usage)
            state = self.state()
            await loop.run_in_executor(None, write_state, path, state)
            await asyncio.sleep(PUBLISH_SECONDS)


async def _serve(config: Config, index: int) -> None:
    loop = asyncio.get_running_loop()
    worker = _Worker(config, index)
    worker.writer.open()
    worker.syncer.start(loop)
    limits = Limits(
        max_body_bytes=config.max_body_bytes,
        max_header_bytes=config.max_header_bytes,
        max_url_bytes=config.max_url_bytes,
        header_timeout=config.header_timeout,
        idle_timeout=config.connection_timeout,
        max_connections=config.max_connections,
    )
    addr = config.proxy_port
    plain_app: Any = worker.app
    tls_server = None
    if config.proxy_port_tls is not None:
        tls_addr = config.proxy_port_tls
        challenges = (FileChallengeStore(AcmePaths(config.data_directory,
                                                   config.letsencrypt_domains).challenges)
                      if config.letsencrypt_domains else None)
        plain_app = PlainPortApp(worker.app, HttpsRedirect(tls_addr.port), challenges)
        tls_server = await start_server(worker.app, tls_addr.host or "0.0.0.0", tls_addr.port,
                                        limits, reuse_port=True,
                                        ssl=certificate_store(config).server_context,
                                        before_write=worker.ingestor.commit)
    # The log's group append is committed before each loop turn's answers go out.
    worker.server = await start_server(plain_app, addr.host or "0.0.0.0", addr.port, limits,
                                       reuse_port=True, before_write=worker.ingestor.commit)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    publisher = asyncio.create_task(worker.publish_forever())
    worker.links.reload()
    link_watcher = asyncio.create_task(worker.links.watch_forever())
    # Everything built so far lives as long as the process: keep it out of the
    # collector's full passes.
    gc.collect()
    gc.freeze()
    log.info("worker %d serving on %s", index, addr)
    await stop.wait()
    log.info("worker %d draining", index)
    if tls_server is not None:
        await asyncio.gather(worker.server.shutdown(config.shutdown_timeout),
                             tls_server.shutdown(config.shutdown_timeout))
    else:
        await worker.server.shutdown(config.shutdown_timeout)
    try:
        worker.ingestor.commit()  # normally done already, before the last answers
    except Exception:
        log.exception("worker %d: the last group append failed", index)
    await worker.syncer.stop()
    for task in (publisher, link_watcher):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    worker.writer.close()
    write_state(worker_state_path(config.run_directory, index), worker.state())
    log.info("worker %d stopped", index)
