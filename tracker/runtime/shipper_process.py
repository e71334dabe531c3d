"""The shipper process: delivers every worker's log to every configured store."""

from __future__ import annotations

import logging
import signal
import threading

from tracker.config import Config
from tracker.runtime.lifecycle import setup_child
from tracker.shipper import Shipper
from tracker.sinks.build import build_sinks

log = logging.getLogger(__name__)
# Consumed segments are deleted this often, which frees WAL quota for the workers.
RETIRE_SECONDS = 1.0


def shipper_main(config: Config) -> None:
    setup_child("shipper", config.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shipper = Shipper(config.data_directory, build_sinks(config),
                      retire_interval=RETIRE_SECONDS)
    shipper.start()
    log.info("shipper delivering to %s", ", ".join(s.name for s in config.notify))
    stop.wait()
    log.info("shipper stopping: delivering what is in the log (up to %ss)",
             config.shutdown_timeout)
    complete = shipper.stop(config.shutdown_timeout)
    if not complete:
        log.warning("shipper stopped with undelivered events; they stay in the log "
                    "and are delivered at the next start")
    log.info("shipper stopped")
