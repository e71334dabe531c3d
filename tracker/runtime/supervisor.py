"""`tracker run`: prepares the data directory, starts the shipper and the workers,
restarts what crashes, and shuts everything down in order.

Shutdown order: workers stop accepting and finish in-flight requests (their
log is fsynced), then the shipper delivers what it can within ShutdownTimeout
and saves its cursors, then the stores are closed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

from tracker.config import Config
from tracker.ratelimit import prepare_counter_file
from tracker.runtime.application import rate_limit_path
from tracker.runtime.secrets import hash_secret
from tracker.runtime.shipper_process import shipper_main
from tracker.runtime.statefile import shipper_state_path, worker_state_path
from tracker.runtime.worker import worker_main
from tracker.sinks.base import RetryableError
from tracker.sinks.build import build_sinks
from tracker.tls import AcmePaths, FileChallengeStore

log = logging.getLogger(__name__)
RESTART_DELAY_SECONDS = 1.0
# Beyond ShutdownTimeout, how long a child may take to exit before it is killed.
EXIT_GRACE_SECONDS = 5.0


def prepare(config: Config) -> None:
    """Directories, the hash secret, and every store's schema, before serving."""
    for path in (config.data_directory, config.wal_directory, config.run_directory):
        path.mkdir(parents=True, exist_ok=True)
    # State of a previous run would read as live until the new processes publish.
    for stale in config.run_directory.glob("*.json"):
        stale.unlink(missing_ok=True)
    hash_secret(config)
    if config.rate_limit_per_day > 0:
        prepare_counter_file(rate_limit_path(config))
    if config.letsencrypt_domains:
        # The HTTPS port starts on a short-lived self-signed certificate until
        # the first ACME order lands; workers pick the real one up by itself.
        from tracker.tls.selfsigned import ensure_placeholder

        paths = AcmePaths(config.data_directory, config.letsencrypt_domains)
        ensure_placeholder(paths.certificate, config.letsencrypt_domains)
    ensure_schema(config, skip_unreachable=True)


def ensure_schema(config: Config, *, skip_unreachable: bool = False) -> list[str]:
    """Create or migrate every table in every store; returns the names of those done.

    `skip_unreachable` (for `tracker run`): a store that cannot be reached now
    (RetryableError) is skipped with a warning instead of failing: events are
    accepted into the log meanwhile, and the shipper's `open` of that sink
    loads the schema once the store answers.
    """
    names = []
    for sink, _ in build_sinks(config):
        try:
            sink.open()
        except RetryableError as exc:
            if not skip_unreachable:
                raise
            log.warning("store %s is not reachable at start (%s); the shipper retries", sink.name,
                        exc)
            continue
        sink.close()
        names.append(sink.name)
    return names


class Supervisor:
    def __init__(self, config: Config):
        self.config = config
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._workers: dict[int, BaseProcess] = {}
        self._shipper: BaseProcess | None = None
        self._renewer: Any = None

    def _spawn_worker(self, index: int) -> None:
        proc = self._ctx.Process(target=worker_main, args=(self.config, index),
                                 name=f"tracker-worker-{index}")
        proc.start()
        self._workers[index] = proc

    def _spawn_shipper(self) -> None:
        self._shipper = self._ctx.Process(target=shipper_main, args=(self.config,),
                                          name="tracker-shipper")
        self._shipper.start()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        prepare(self.config)
        self._spawn_shipper()
        for index in range(self.config.workers):
            self._spawn_worker(index)
        log.info("tracker listening on %s with %d worker(s); stores: %s",
                 self.config.proxy_port, self.config.workers,
                 ", ".join(s.name for s in self.config.notify))
        while not self._stop.wait(0.2):
            self._restart_crashed()
            if self.config.letsencrypt_domains and self._renewer is None \
                    and self._workers_listening():
                self._renewer = start_acme_renewer(self.config, self._reload_certificates)
        self._shutdown()
        return 0

    def _workers_listening(self) -> bool:
        """Every worker published its state, which it does once its ports listen.

        The first ACME order waits for that: the CA fetches the HTTP-01 answer
        once, and a refused connection is a failed validation (and a retry later).
        """
        return all(worker_state_path(self.config.run_directory, index).exists()
                   for index in range(self.config.workers))

    def _reload_certificates(self) -> None:
        """A new certificate is on disk: every worker loads it now (SIGHUP)."""
        for proc in list(self._workers.values()):
            if proc.pid is not None and proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGHUP)

    def _restart_crashed(self) -> None:
        for index, proc in list(self._workers.items()):
            if not proc.is_alive():
                log.error("worker %d exited with %s; restarting", index, proc.exitcode)
                time.sleep(RESTART_DELAY_SECONDS)
                self._spawn_worker(index)
        if self._shipper is not None and not self._shipper.is_alive():
            log.error("shipper exited with %s; restarting", self._shipper.exitcode)
            time.sleep(RESTART_DELAY_SECONDS)
            self._spawn_shipper()

    def _shutdown(self) -> None:
        if self._renewer is not None:
            self._renewer.stop()
        log.info("stopping: draining workers")
        timeout = self.config.shutdown_timeout
        for proc in self._workers.values():
            proc.terminate()
        _join_or_kill(self._workers.values(), timeout + EXIT_GRACE_SECONDS)
        if self._shipper is not None:
            log.info("stopping: delivering the log")
            self._wait_shipper_started(timeout)
            self._shipper.terminate()
            _join_or_kill([self._shipper], timeout + EXIT_GRACE_SECONDS)
        log.info("stopped")


    def _wait_shipper_started(self, timeout: float) -> None:
        """A stop right after the start must still deliver: a shipper still
        importing would die of SIGTERM without delivering, so wait (bounded)
        until it publishes its state, which it does once it is delivering."""
        assert self._shipper is not None
        state = shipper_state_path(self.config.run_directory)
        deadline = time.monotonic() + timeout
        while (self._shipper.is_alive() and not state.exists()
               and time.monotonic() < deadline):
            time.sleep(0.05)


def start_acme_renewer(config: Config, on_renewed: Any = None) -> Any:
    """One ACME client per server, in the supervisor: it obtains and renews the
    certificate; challenges are answered by any worker from files. `on_renewed`
    is called after each new certificate is on disk."""
    from tracker.tls.acme import AcmeSettings
    from tracker.tls.renewal import CertificateRenewer

    paths = AcmePaths(config.data_directory, config.letsencrypt_domains)
    settings = AcmeSettings(config.data_directory, config.letsencrypt_domains,
                            directory_url=config.letsencrypt_directory,
                            email=config.letsencrypt_email)
    renewer = CertificateRenewer(settings, FileChallengeStore(paths.challenges),
                                 on_renewed=on_renewed)
    renewer.start()
    return renewer


def _join_or_kill(procs: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            log.error("%s did not stop in time; killing it", proc.name)
            proc.kill()
            proc.join()
