"""Keeping the ACME certificate fresh: a loop for one long-lived process.

Run it in the supervisor, in a thread (``CertificateRenewer.start``): that
process lives as long as the server, does no request work, and is one per
DataDirectory, while workers come and go and the shipper is busy with the
stores. The ACME lock makes a second runner harmless anyway.

The loop checks at once (a first certificate is needed as soon as the workers
listen), then every ``check_interval``. A failed attempt is retried after
``retry_min``, doubling up to ``retry_max``: Let's Encrypt limits failed
validations per hour, so a misconfigured domain must not hammer it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tracker.tls.acme import AcmeSettings, ensure_certificate
from tracker.tls.challenges import Challenges

log = logging.getLogger(__name__)


class CertificateRenewer:
    def __init__(
        self,
        settings: AcmeSettings,
        store: Challenges,
        *,
        check_interval: float = 12 * 3600.0,
        retry_min: float = 60.0,
        retry_max: float = 3600.0,
        initial_delay: float = 1.0,
        on_renewed: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._check_interval = check_interval
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._initial_delay = initial_delay  # lets the workers start listening
        self._on_renewed = on_renewed
        self._retry = retry_min
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0  # consecutive failed attempts
        self.last_error: str | None = None

    def run_once(self) -> float:
        """One check (and renewal if due); the seconds to wait before the next."""
        try:
            renewed = ensure_certificate(self.settings, self._store)
        except Exception as exc:  # network, CA refusal, disk: log, back off, try again
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            wait, self._retry = self._retry, min(self._retry * 2, self._retry_max)
            log.error("ACME: certificate for %s not obtained (attempt %d, next in %.0fs): %s",
                      ", ".join(self.settings.domains), self.failures, wait, self.last_error)
            return wait
        self.failures = 0
        self.last_error = None
        self._retry = self._retry_min
        if renewed and self._on_renewed is not None:
            self._on_renewed()
        return self._check_interval

    def run(self) -> None:
        """Check until ``stop``; blocking (the thread's body)."""
        wait = self._initial_delay
        while not self._stop.wait(wait):
            wait = self.run_once()

    def start(self) -> threading.Thread:
        """Run in a daemon thread (an ACME call in flight must not block exit)."""
        self._thread = threading.Thread(target=self.run, name="tracker-acme", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
