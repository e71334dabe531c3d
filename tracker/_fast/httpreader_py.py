"""Turning a connection's bytes into Requests: httptools plus the size limits.

Pure-Python twin of ``httpreader.pyx`` (the test oracle). One ``RequestReader``
per connection; its parser is reused for every request on that connection.
The fields of the message being parsed are reset at each message start, and a
finished message leaves as an immutable-by-convention ``Request``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httptools

from tracker._fast.httpmessage import (
    BODY,
    HEAD,
    HEADER_NAMES,
    IDLE,
    METHODS,
    REQUEST_LINE_OVERHEAD,
    RequestError,
    split_unusual_target,
)
from tracker._fast.request_py import Request

log = logging.getLogger("tracker.http.reader")


class _Abort(Exception):
    """Raised inside a parser callback to stop parsing; the reason is kept aside."""


class RequestReader:
    """Feeds bytes to httptools and hands each complete ``Request`` to ``deliver``.

    ``feed`` raises ``RequestError`` for a request that breaks HTTP or a limit;
    requests completed before it in the same bytes were already delivered.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_deliver",
        "_error",
        "_head_bytes",
        "_head_seen",
        "_headers",
        "_keep_alive",
        "_last",
        "_limits",
        "_parser",
        "_peer_ip",
        "_tls",
        "_url",
        "continue_wanted",
        "finished",
        "phase",
        "phase_serial",
        "upgrade_request",
        "upgrade_tail",
    )

    def __init__(
        self, limits: Any, peer_ip: str, tls: bool, deliver: Callable[[Request], None]
    ) -> None:
        self._limits = limits
        self._peer_ip = peer_ip
        self._tls = tls
        self._deliver = deliver
        self._parser = httptools.HttpRequestParser(self)
        self.phase = IDLE
        self.phase_serial = 0  # changes at every phase change
        self.continue_wanted = False  # "Expect: 100-continue" seen, body not started
        self.finished = False  # no further request will be read on this connection
        self.upgrade_request: Request | None = None
        self.upgrade_tail = b""  # bytes after an upgrade request's head
        self._error: RequestError | None = None
        self._last: Request | None = None
        # The message being read; reset by on_message_begin.
        self._url = b""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0  # request line + complete header lines
        self._head_seen = 0  # whole chunks received while still in this head
        self._body: bytes | bytearray = b""
        self._body_size = 0
        self._keep_alive = True

    def feed(self, data: bytes) -> None:
        if self.finished:
            if self.upgrade_request is not None:
                self.upgrade_tail += data  # arrived before reading paused
            return  # after Connection: close, an upgrade or an error
        serial = self.phase_serial
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.finished = True
            self.upgrade_request = self._last
            self.upgrade_tail = bytes(data[exc.args[0] :])
            return
        except httptools.HttpParserError as exc:
            self._parser_failed(exc)
        if self.phase == HEAD and serial == self.phase_serial:
            # The whole chunk belonged to an unfinished head. httptools keeps a
            # partial header line to itself, so the callbacks cannot see it grow.
            self._head_seen += len(data)
            if self._head_seen > self._limits.max_header_bytes:
                self.finished = True
                raise RequestError(431, "request headers too large")

    def _parser_failed(self, exc: httptools.HttpParserError) -> None:
        was_finished = self.finished
        self.finished = True
        error = self._error
        if error is not None:
            raise error
        if was_finished:
            return  # bytes after a "Connection: close" request are dropped
        if isinstance(exc, httptools.HttpParserCallbackError):
            # One of our callbacks failed for a reason other than a limit.
            log.error("HTTP parser callback failed", exc_info=exc.__context__)
            raise RequestError(400, "malformed request") from None
        raise RequestError(400, f"malformed request: {exc}") from None

    def _reject(self, status: int, message: str) -> None:
        self._error = RequestError(status, message)
        raise _Abort

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._head_seen = 0
        self._body_size = 0
        self.continue_wanted = False
        self.phase = HEAD
        self.phase_serial += 1

    def on_url(self, url: bytes) -> None:
        if self._url:
            url = self._url + url
        self._url = url
        size = len(url)
        if size > self._limits.max_url_bytes:
            self._reject(414, "request URI too long")
        self._head_bytes = size + REQUEST_LINE_OVERHEAD

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self._head_bytes + len(name) + len(value) + 4
        self._head_bytes = size
        if size > self._limits.max_header_bytes:
            self._reject(431, "request headers too large")
        key = HEADER_NAMES.get(name) or name.lower().decode("latin-1")
        text = value.decode("latin-1").rstrip(" \t")
        headers = self._headers
        old = headers.get(key)
        if old is None:
            headers[key] = text
        else:
            headers[key] = old + ("; " if key == "cookie" else ", ") + text

    def on_headers_complete(self) -> None:
        self.phase = BODY
        self.phase_serial += 1
        self._keep_alive = self._parser.should_keep_alive()
        headers = self._headers
        length = headers.get("content-length")
        if length is not None and int(length) > self._limits.max_body_bytes:
            self._reject(413, "request body too large")
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue":
            self.continue_wanted = self._parser.get_http_version() == "1.1"

    def on_body(self, body: bytes) -> None:
        size = self._body_size + len(body)
        if size > self._limits.max_body_bytes:
            self._reject(413, "request body too large")
        self._body_size = size
        self.continue_wanted = False
        if not self._body:
            self._body = body
        else:
            if type(self._body) is bytes:
                self._body = bytearray(self._body)
            self._body += body

    def on_message_complete(self) -> None:
        parser = self._parser
        method = parser.get_method()
        headers = self._headers
        body = self._body
        target = self._url.decode("latin-1")
        if target[:1] == "/" and "#" not in target:
            path, _, query = target.partition("?")
        else:
            path, query = split_unusual_target(target)
        keep_alive = self._keep_alive
        # Only 1.1 keeps alive without a Connection header: spares a parser call.
        plain_11 = keep_alive and "connection" not in headers
        version = "1.1" if plain_11 else parser.get_http_version()
        request = Request(
            METHODS.get(method) or method.decode("latin-1"),
            path,
            query,
            headers,
            body if type(body) is bytes else bytes(body),
            self._peer_ip,
            self._tls,
            keep_alive,
            version,
        )
        self._last = request
        self._body = b""
        self.phase = IDLE
        self.phase_serial += 1
        self.continue_wanted = False
        if not self._keep_alive:
            self.finished = True
        self._deliver(request)
