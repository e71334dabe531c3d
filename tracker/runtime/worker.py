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
from tracker.http import Limits, start_server
from tracker.metrics.registry import RouteCounters
from tracker.routes.ingest import Ingestor
from tracker.routes.plainport import PlainPortApp
from tracker.runtime.application import build_application
from tracker.runtime.lifecycle import setup_child
from tracker.runtime.statefile import worker_state_path, write_state
from tracker.tls import AcmePaths, CertificateStore, FileChallengeStore, HttpsRedirect
from tracker.wal import Syncer, WalWriter

log = logging.getLogger(__name__)
PUBLISH_SECONDS = 0.5


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
        self.app, self.links = build_application(
            config, self.ingestor, self.counters, self.state,
            lambda: self.server.state if self.server else None)

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
            self.writer.trim_stale_tail()  # here, on the appending thread
            self.writer.ready_next_file_soon()
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
        certificates = certificate_store(config)
        # SIGHUP: the supervisor renewed the certificate; take it now, not at the next check.
        loop.add_signal_handler(signal.SIGHUP, certificates.reload)
        tls_server = await start_server(worker.app, tls_addr.host or "0.0.0.0", tls_addr.port,
                                        limits, reuse_port=True,
                                        ssl=certificates.server_context,
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
