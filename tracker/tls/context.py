"""Server TLS contexts, and a holder that picks up a renewed certificate without a restart.

``CertificateStore.server_context`` is the context to listen with. Its SNI
callback runs at the start of every handshake (OpenSSL calls it with or
without a server name) and hands the connection the store's current context.
The store looks at the files' stat at most every ``check_interval`` seconds
and loads them again when they changed, so a renewal written by another
process is served from the next handshakes on. Open connections keep the
certificate they started with.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# TLS 1.2 suites with forward secrecy and AEAD (TLS 1.3 suites are OpenSSL's
# defaults, all good). No DHE: that would need DH parameters.
_TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))

FileStamp = tuple[tuple[int, int, int], ...]


def server_ssl_context(cert_path: str | os.PathLike[str],
                       key_path: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """A server context for ``cert_path`` (PEM chain, leaf first) and ``key_path``.

    ``key_path`` None: the private key is in ``cert_path`` (as ACME certificates
    are stored, so that one rename swaps both). TLS 1.2 and 1.3 only, no
    compression, no renegotiation, ALPN ``http/1.1`` (the server speaks nothing
    else). Raises ``ssl.SSLError``/``OSError`` when the files are unusable.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_SINGLE_ECDH_USE
    ctx.set_ciphers(_TLS12_CIPHERS)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(os.fspath(cert_path), None if key_path is None else os.fspath(key_path))
    return ctx


class CertificateStore:
    """The current server context for a certificate whose files may be replaced.

    Raises at construction when the files are unusable (a bad configuration
    should stop the start). Later, a failed reload (a key that does not match
    its certificate yet, a half-copied file) keeps serving the previous
    certificate and is tried again at the next check.
    """

    def __init__(
        self,
        cert_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str] | None = None,
        *,
        check_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._paths = tuple(Path(p) for p in (cert_path, key_path) if p is not None)
        self._cert_path = Path(cert_path)
        self._key_path = None if key_path is None else Path(key_path)
        self._check_interval = check_interval
        self._clock = clock
        self._stamp = self._file_stamp()
        self._current = server_ssl_context(self._cert_path, self._key_path)
        self._next_check = clock() + check_interval
        self.reloads = 0  # certificates loaded after the first
        self._server = self._current
        self._server.sni_callback = self._on_handshake

    @property
    def server_context(self) -> ssl.SSLContext:
        """The context to pass to ``start_server(..., ssl=...)``."""
        return self._server

    def current(self) -> ssl.SSLContext:
        """The context for a new handshake; looks at the files when a check is due."""
        if self._clock() >= self._next_check:
            self.reload()
        return self._current

    def reload(self) -> bool:
        """Look at the files now; True when a changed certificate was loaded."""
        self._next_check = self._clock() + self._check_interval
        try:
            stamp = self._file_stamp()
        except OSError as exc:  # mid-replacement, or removed: keep serving
            log.warning("TLS certificate files unreadable, keeping the loaded one: %s", exc)
            return False
        if stamp == self._stamp:
            return False
        try:
            fresh = server_ssl_context(self._cert_path, self._key_path)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS certificate %s not loaded, keeping the previous one: %s",
                        self._cert_path, exc)
            return False
        self._current = fresh
        self._stamp = stamp
        self.reloads += 1
        log.info("TLS certificate %s reloaded", self._cert_path)
        return True

    def _file_stamp(self) -> FileStamp:
        stamps = []
        for path in self._paths:
            st = os.stat(path)
            stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(stamps)

    def _on_handshake(self, conn: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                      ctx: ssl.SSLContext) -> None:
        try:
            current = self.current()
            if current is not ctx:
                conn.context = current
        except Exception:  # an exception here would fail the handshake: serve the old one
            log.exception("TLS certificate swap failed")
