"""Responses and their HTTP/1.1 encoding."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import orjson

from tracker._fast import header_lines

# Read-only lookup tables, built once at import.
_STATUS_LINES: dict[int, bytes] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode("latin-1") for s in HTTPStatus
}
_NO_BODY_STATUSES = frozenset({204, 304})
_JSON = "application/json"

Headers = Iterable[tuple[str, str]]


class HttpDate:
    """The ``date:`` header line, rebuilt only when the wall-clock second changes.

    One instance per server (``ServerState.clock``); tests can pass a fake ``now``.
    """

    __slots__ = ("_line", "_next", "_now", "_second")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._second = 0.0
        self._next = 0.0  # the line is valid while _second <= now < _next
        self._line = b""

    def line(self) -> bytes:
        """``b"date: <IMF-fixdate>\\r\\n"``; the same object within one second."""
        now = self._now()
        if now >= self._next or now < self._second:
            second = self._second = float(int(now))
            self._next = second + 1.0
            self._line = b"date: " + formatdate(second, usegmt=True).encode() + b"\r\n"
        return self._line


class Response:
    """A complete response: status, headers (name, value) and body.

    Do not put ``content-length``, ``connection`` or ``date`` in ``headers``:
    ``encode`` writes those.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers = (), body: bytes = b"") -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers)
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {len(self.body)} bytes)"

    @classmethod
    def empty(cls, status: int = 204, headers: Headers = ()) -> Response:
        return cls(status, headers)

    @classmethod
    def json(cls, status: int, obj: Any, headers: Headers = ()) -> Response:
        return cls(status, [("content-type", _JSON), *headers], orjson.dumps(obj))

    @classmethod
    def error(cls, status: int, message: str, headers: Headers = ()) -> Response:
        return cls.json(status, {"error": message}, headers)

    @classmethod
    def raw(cls, status: int, content_type: str, body: bytes, headers: Headers = ()) -> Response:
        return cls(status, [("content-type", content_type), *headers], body)

    def head_lines(self, keep_alive: bool, http10: bool = False) -> bytes:
        """Status line and header lines, without ``date`` and the blank line."""
        framing = b"content-length: %d\r\n" % len(self.body) if _has_body(self.status) else b""
        return _head_lines(self.status, self.headers, framing, keep_alive, http10)

    def encode(
        self,
        keep_alive: bool,
        clock: HttpDate | None = None,
        *,
        head: bool = False,
        http10: bool = False,
    ) -> bytes:
        """The full HTTP/1.1 response.

        ``head`` leaves the body out (answer to HEAD; Content-Length stays).
        ``http10`` adds ``connection: keep-alive``, which HTTP/1.0 clients need.
        """
        date = (clock or HttpDate()).line()
        body = self.body
        if head or not _has_body(self.status):
            body = b""
        return b"".join((self.head_lines(keep_alive, http10), date, b"\r\n", body))

    def prebuilt(self) -> PrebuiltResponse:
        return PrebuiltResponse(self)


class PrebuiltResponse:
    """A constant response encoded once; only its Date line is refreshed each second.

    The application may return one from ``handle`` for the hot path. It is a
    snapshot: later changes to the ``Response`` are not seen. ``with_headers``
    derives one that adds per-request headers (a cookie) to the encoded part.
    """

    __slots__ = ("_added", "_bytes", "_date", "_head", "_response", "_tail", "status")

    def __init__(self, response: Response) -> None:
        self._response = Response(response.status, response.headers, response.body)
        self._added = b""  # header lines added by with_headers
        self.status = response.status
        self._head = self._response.head_lines(True)
        no_body = not _has_body(self.status)
        self._tail = b"\r\n" if no_body else b"\r\n" + response.body
        self._date = b""
        self._bytes = b""

    @property
    def response(self) -> Response:
        """The response this one encodes, added headers included."""
        base = self._response
        if not self._added:
            return base
        lines = self._added.decode("latin-1").split("\r\n")
        added = [tuple(line.split(": ", 1)) for line in lines if line]
        return Response(self.status, [*base.headers, *added], base.body)

    def with_headers(self, headers: Iterable[tuple[str, str]]) -> PrebuiltResponse:
        """This response plus ``headers``: only they are encoded, so it is cheap per request."""
        lines = header_lines(headers)
        derived = object.__new__(PrebuiltResponse)
        derived._response = self._response
        derived._added = self._added + lines
        derived.status = self.status
        derived._head = self._head + lines
        derived._tail = self._tail
        derived._date = b""
        derived._bytes = b""
        return derived

    def split(self) -> tuple[bytes, bytes]:
        """The kept-alive HTTP/1.1 answer's bytes before its date line and after
        it, for code that writes the answer itself (tracker/_fast/oneevent)."""
        return self._head, self._tail

    def encode(
        self,
        keep_alive: bool,
        clock: HttpDate,
        *,
        head: bool = False,
        http10: bool = False,
    ) -> bytes:
        if keep_alive and not head and not http10:
            date = clock.line()
            if self._added:  # derived by with_headers for one request: nothing to reuse
                return self._head + date + self._tail
            if date is not self._date:
                self._date = date
                self._bytes = self._head + date + self._tail
            return self._bytes
        return self.response.encode(keep_alive, clock, head=head, http10=http10)


class StreamingResponse:
    """A response whose body arrives as chunks from an async iterator (the proxy's).

    ``length`` is the body's size when known up front: it is sent as
    Content-Length and the body is written as is. Otherwise an HTTP/1.1 client
    gets ``transfer-encoding: chunked`` and an HTTP/1.0 client a body that ends
    when the connection closes. The protocol takes the next chunk only once the
    client has taken the previous ones (flow control), so memory stays bounded
    whatever the body's size. When the stream ends however it ends (done,
    client gone, HEAD, a failure), ``body.aclose()`` is awaited if it exists.
    A body that fails, or that does not match ``length``, ends the connection:
    the status has gone out already. Do not put ``content-length``,
    ``transfer-encoding``, ``connection`` or ``date`` in ``headers``.
    """

    __slots__ = ("body", "headers", "length", "status")

    def __init__(self, status: int, headers: Headers, body: AsyncIterator[bytes],
                 length: int | None = None) -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers)
        self.body = body
        self.length = length

    def __repr__(self) -> str:
        return f"StreamingResponse({self.status}, {self.headers!r}, length={self.length})"

    @property
    def has_body(self) -> bool:
        """False for statuses that never carry one (1xx, 204, 304)."""
        return _has_body(self.status)

    def chunked(self, http10: bool) -> bool:
        """Whether the body goes out with chunked framing."""
        return self.length is None and not http10 and self.has_body

    def encode_head(self, keep_alive: bool, clock: HttpDate, *, http10: bool = False) -> bytes:
        """Status line, headers, framing header, date and the blank line.

        The caller passes ``keep_alive=False`` when the body's end can only be
        told by closing (HTTP/1.0 and no ``length``).
        """
        framing = b""
        if self.has_body:
            if self.length is not None:
                framing = b"content-length: %d\r\n" % self.length
            elif not http10:
                framing = b"transfer-encoding: chunked\r\n"
        head = _head_lines(self.status, self.headers, framing, keep_alive, http10)
        return b"".join((head, clock.line(), b"\r\n"))


def _has_body(status: int) -> bool:
    return status >= 200 and status not in _NO_BODY_STATUSES


def _head_lines(status: int, headers: list[tuple[str, str]], framing: bytes,
                keep_alive: bool, http10: bool) -> bytes:
    """Status line, header lines, the body's framing line (``framing``, may be
    empty) and the connection line: a response head without ``date`` and the
    blank line."""
    head = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n".encode("latin-1")
    # header_lines refuses CR, LF and NUL: they would let input split the response.
    lines = [head, header_lines(headers), framing]
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    elif http10:
        lines.append(b"connection: keep-alive\r\n")
    return b"".join(lines)


def chunk_frame(data: bytes) -> bytes:
    """``data`` as one chunk of chunked transfer coding (never empty: that ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


@dataclass(slots=True)
class Upgrade:
    """Returned by the application to take the connection over (e.g. WebSocket).

    The protocol writes ``response`` (normally a 101 carrying the ``upgrade``
    and ``connection`` headers), then calls ``protocol_factory()``, moves the
    transport to the new protocol with ``transport.set_protocol``, calls its
    ``connection_made`` and feeds it any bytes already received after the
    request head. From then on the new protocol owns the connection,
    including its timeouts and its part in a graceful shutdown.
    """

    response: Response
    protocol_factory: Callable[[], asyncio.BaseProtocol]

