"""The shipper process: delivers every worker's log to every configured store."""

from __future__ import annotations

import logging
import signal
import threading

import uvloop

from tracker.config import Config
from tracker.links.book import links_path
from tracker.links.sink import LinksSink
from tracker.runtime.lifecycle import setup_child
from tracker.runtime.readapi import read_service, serve_reads_until_stopped
from tracker.shipper import BatchPolicy, Shipper
from tracker.sinks.build import build_sinks

log = logging.getLogger(__name__)
# Consumed segments are deleted this often, which frees WAL quota for the workers.
RETIRE_SECONDS = 1.0


def shipper_main(config: Config) -> None:
    setup_child("shipper", config.log_level)
    # A SIGTERM before the read API listens still means "deliver, then stop".
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # The stores, and the short links book every worker resolves links from.
    links = LinksSink(links_path(config.data_directory))
    sinks = [*build_sinks(config), (links, {"redirect_history": BatchPolicy("immediate")})]
    shipper = Shipper(config.data_directory, sinks, retire_interval=RETIRE_SECONDS)
    shipper.start()
    log.info("shipper delivering to %s", ", ".join(s.name for s in config.notify))
    # The main thread serves the routes' reads until SIGTERM (the runners are threads).
    service = read_service(config, [sink for sink, _ in sinks])
    uvloop.run(serve_reads_until_stopped(config, service, stopping))
    log.info("shipper stopping: delivering what is in the log (up to %ss)",
             config.shutdown_timeout)
    complete = shipper.stop(config.shutdown_timeout)
    if not complete:
        log.warning("shipper stopped with undelivered events; they stay in the log "
                    "and are delivered at the next start")
    log.info("shipper stopped")
