"""For the TLS tests: a tracker.http server on uvloop in a thread, and an HTTPS client.

    with ServerThread(app, ssl=ctx) as server:
        reply = https_get(server.port, "tracker.test", "/", ca_file)
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from tracker.http import App, HttpServer, Limits, start_server


class ServerThread:
    """Serves ``app`` on 127.0.0.1 (``port`` 0: any free port) until ``stop``."""

    def __init__(self, app: App, *, ssl: ssl.SSLContext | None = None, port: int = 0) -> None:
        self._app = app
        self._ssl = ssl
        self._want_port = port
        self._loop = uvloop.new_event_loop()
        self._server: HttpServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._server = self._call(start_server(self._app, "127.0.0.1", self._want_port,
                                               Limits(), reuse_port=False, ssl=self._ssl))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._call(self._server.shutdown(2.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_cert: bytes  # DER of the server's leaf certificate
    alpn: str | None
    version: str | None


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def https_get(port: int, server_name: str, path: str, ca_file: str | Path | None = None,
              *, context: ssl.SSLContext | None = None) -> Reply:
    """GET ``path`` from 127.0.0.1:``port`` over TLS, verifying the certificate
    for ``server_name`` (sent as SNI and Host) against ``ca_file``."""
    ctx = context or client_context(ca_file or "")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\n"
                    "Connection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)
        response.begin()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body,
                     tls.getpeercert(binary_form=True) or b"", tls.selected_alpn_protocol(),
                     tls.version())
