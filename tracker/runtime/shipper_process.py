"""The shipper process: delivers every worker's log to every configured store."""

from __future__ import annotations

import logging
import signal
import threading

from tracker.config import Config
from tracker.runtime.lifecycle import setup_child
from tracker.runtime.statefile import shipper_state_path
from tracker.shipper import Shipper
from tracker.sinks.build import build_sinks

log = logging.getLogger(__name__)
PUBLISH_SECONDS = 0.5


def shipper_main(config: Config) -> None:
    setup_child("shipper", config.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shipper = Shipper(config.data_directory, build_sinks(config))
    shipper.start()
    state_path = shipper_state_path(config.run_directory)
    log.info("shipper delivering to %s", ", ".join(s.name for s in config.notify))
    while not stop.wait(PUBLISH_SECONDS):
        shipper.retire()
        shipper.publish_state(state_path)
    log.info("shipper stopping: delivering what is in the log (up to %ss)",
             config.shutdown_timeout)
    shipper.stop(config.shutdown_timeout)
    shipper.publish_state(state_path)
    log.info("shipper stopped")
