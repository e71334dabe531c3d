"""One HTTP/1.1 connection: reading requests, ordering responses, timeouts.

Per-connection state lives on ``HttpProtocol`` (in its compiled base class
``ConnectionCore``, tracker/_fast/connection.pyx, which also runs the steps of
every request); the message being parsed lives in its ``RequestReader``; a
finished request is a ``Request`` in ``_queue`` until its response is
written. Responses leave in request order: while the application works on an
awaitable response, later requests wait in the queue, and reading pauses once
``max_pipelined`` are waiting.

Output is coalesced per loop turn: a connection collects its responses in
``_out`` and the ``ServerState`` writes every connection's output once the
turn's reads are handled. Under load one turn reads many connections; writing
their answers back to back wakes each client once per turn instead of once per
response, which on loopback and in VMs costs more than the write itself.

A ``StreamingResponse`` is the exception: its head and chunks are written as
they come, and the next chunk is asked for only while the transport is not
paused (over ``high_water``), so a slow client holds back the body's source
instead of growing our buffers. The connection is busy until its last chunk.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Protocol, TypeAlias, cast

from tracker._fast import ConnectionCore, Request, RequestReader
from tracker._fast.httpmessage import HEAD, IDLE
from tracker.http.deadline import Deadline
from tracker.http.response import (
    LAST_CHUNK,
    PrebuiltResponse,
    Response,
    StreamingResponse,
    Upgrade,
    chunk_frame,
)

log = logging.getLogger(__name__)

Reply: TypeAlias = Response | PrebuiltResponse | StreamingResponse | bytes | Upgrade


class App(Protocol):
    """What the HTTP layer serves.

    ``handle`` returns, or returns an awaitable of:
    - a ``Response``;
    - a ``PrebuiltResponse`` (constant responses on the hot path);
    - ``bytes``: a complete HTTP/1.1 response with a Content-Length, written
      as it is: no Date refresh, no body stripped for HEAD. Only when the
      connection is not kept alive is a ``connection: close`` line added
      (unless it has a ``connection`` header), and the connection is closed
      right after these bytes;
    - a ``StreamingResponse``: the body written as its iterator yields it;
    - an ``Upgrade`` for a request that asked for one (see ``Upgrade``).
    Exceptions become a 500 whose body never carries the exception text.
    """

    def handle(self, request: Request) -> Reply | Awaitable[Reply]: ...


class HttpProtocol(ConnectionCore, asyncio.Protocol):
    """One connection. The steps every request takes (``data_received``, answering
    the queue, the turn's output, the idle deadline) and the connection's state
    are ``ConnectionCore``'s (tracker._fast.connection, compiled); the rest is
    here: errors, streaming, upgrades, flow control, timeouts and closing."""

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport = transport
        self._loop = loop = asyncio.get_running_loop()
        self._deadline = Deadline(loop, self._on_timeout)
        peer = transport.get_extra_info("peername")
        ip = peer[0] if isinstance(peer, tuple) and peer else ""
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]  # IPv4 client on a dual-stack socket
        self.peer_ip = ip
        self._reader = RequestReader(self._limits, ip, self._tls, self._queue.append)
        server = self._server
        if len(server.connections) >= self._limits.max_connections:
            self._rejecting = True
            server.connections_rejected += 1
            self._deadline.set(self._limits.header_timeout, "header")
            return
        server.add(self)
        transport.set_write_buffer_limits(high=self._limits.high_water)
        self._deadline.set(self._limits.idle_timeout, "idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        self._transport = None
        self._closing = True
        self._queue.clear()  # never answered; a running app call finishes unseen
        self._out.clear()
        if self._stream is not None:
            self._stream.cancel()  # nobody reads the rest: stop its source

    def eof_received(self) -> bool | None:
        # The client finished sending; answer what was received, then close.
        if not self._queue and not self._busy:
            return None  # let the transport close now
        self._reader.finished = True
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self._deadline.set(self._limits.idle_timeout, "write")
        if not self._closing:
            self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._armed_serial = -1
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)
        self._after_io()

    # graceful shutdown, driven by HttpServer

    def shutdown(self) -> None:
        """Close now if idle; otherwise close after the last pending response."""
        if self._closing or self._transport is None:
            return
        if not self._queue and not self._busy and self._reader.phase == IDLE:
            self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._out.clear()
            self._transport.abort()

    # answering

    def _answer_general(self, request: Request, reply: Reply) -> None:
        """Everything but complete bytes on a kept-alive connection (which
        ``_run_queue`` writes itself): encode ``reply``, or defer it."""
        server = self._server
        if (type(reply) is PrebuiltResponse and request.keep_alive
                and request.http_version == "1.1" and request.method != "HEAD"
                and not server.draining and not self._reader.finished):
            # A constant answer, the connection kept alive.
            self._out.append(reply.encode(True, server.clock))
            server.responses[reply.status // 100] += 1
            return
        data = self._encode(request, reply)
        if data is not None:
            self._out.append(data)

    async def _respond_later(self, request: Request, awaitable: Awaitable[Reply]) -> None:
        try:
            reply = await awaitable
        except Exception:
            reply = self._crashed(request)
        self._busy = False
        self._task = None
        if self._transport is None or self._closing:
            # The client left or timed out; nobody to answer.
            if type(reply) is StreamingResponse:
                await _close_body(reply.body)
            return
        data = self._encode(request, reply)
        if data is not None:
            self._write(data)
        self._after_answers()
        if self._queue and not self._busy:
            self._run_queue()
        self._after_io()

    def _encode(self, request: Request, reply: object) -> bytes | None:
        """Bytes for ``reply``, or None when it is deferred (awaitable, upgrade)."""
        server = self._server
        keep_alive = request.keep_alive
        if keep_alive and (server.draining or self._reader.finished):
            keep_alive = self._may_keep_alive(request)
        try:
            if isinstance(reply, (PrebuiltResponse, Response)):
                status = reply.status
                head = request.method == "HEAD"
                http10 = request.http_version == "1.0"
                if head or http10:
                    data = reply.encode(keep_alive, server.clock, head=head, http10=http10)
                else:
                    data = reply.encode(keep_alive, server.clock)
            elif type(reply) is bytes:
                status = int(reply[9:12])
                data = reply if keep_alive else _with_close(reply)
            else:
                return self._defer(request, reply, keep_alive)
        except Exception:
            log.exception("encoding the response to %s %s failed", request.method, request.path)
            status = 500
            data = Response.error(500, "internal error").encode(keep_alive, server.clock)
        server.responses[status // 100] += 1
        if not keep_alive:
            self._closing = True
        return data

    def _defer(self, request: Request, reply: object, keep_alive: bool) -> bytes | None:
        if type(reply) is StreamingResponse:
            self._busy = True
            self._stream = self._loop.create_task(self._respond_stream(request, reply, keep_alive))
            return None
        if isinstance(reply, Upgrade):
            if request is self._reader.upgrade_request:
                self._upgrade = reply
                return None
            log.error("Upgrade for %s %s, which asked for none", request.method, request.path)
        elif inspect.isawaitable(reply):
            self._busy = True
            self._task = self._loop.create_task(self._respond_later(request, reply))
            return None
        else:
            log.error("app returned %r for %s %s", type(reply), request.method, request.path)
        return self._encode(request, Response.error(500, "internal error"))

    async def _respond_stream(self, request: Request, reply: StreamingResponse,
                              keep_alive: bool) -> None:
        """Write a streamed reply, then go on with the connection as after any answer."""
        http10 = request.http_version == "1.0"
        body = reply.has_body and request.method != "HEAD"
        if body and http10 and reply.length is None:
            keep_alive = False  # only closing tells an HTTP/1.0 client where the body ends
        try:
            whole = await self._write_stream(request, reply, keep_alive, body)
        finally:
            await _close_body(reply.body)
            self._stream = None  # held until here: the loop keeps only weak task refs
        self._busy = False
        if self._transport is None or self._closing:
            return
        if not whole or not keep_alive:
            self._close()  # a cut body shows as a connection closed early
            return
        self._after_answers()
        if self._queue and not self._busy:
            self._run_queue()
        self._after_io()
        if self._server.draining:
            self.shutdown()  # the drain found this connection busy; it may be idle now

    async def _write_stream(self, request: Request, reply: StreamingResponse,
                            keep_alive: bool, body: bool) -> bool:
        """The head, then (``body``) each chunk; False when the body failed or
        broke its framing, so the connection must end."""
        server = self._server
        http10 = request.http_version == "1.0"
        try:
            head = reply.encode_head(keep_alive, server.clock, http10=http10)
        except Exception:
            log.exception("encoding the response to %s %s failed", request.method, request.path)
            server.responses[5] += 1
            self._write(Response.error(500, "internal error").encode(keep_alive, server.clock))
            return True
        server.responses[reply.status // 100] += 1
        self._write(head)
        if not body:
            return True
        chunked = reply.chunked(http10)
        left = reply.length
        try:
            async for data in reply.body:
                if not data:
                    continue  # an empty chunk would end a chunked body
                if left is not None:
                    left -= len(data)
                    if left < 0:
                        log.error("body of %s %s longer than its length", request.method,
                                  request.path)
                        return False
                # Earlier answers and the head go first, committed like any answer;
                # then chunks go straight out: they acknowledge nothing.
                if self._out and not self._write_now():
                    return False
                if self._transport is None:
                    return False
                self._transport.write(chunk_frame(data) if chunked else data)
                while self._write_paused and self._transport is not None:
                    self._drained = self._loop.create_future()
                    try:
                        await self._drained
                    finally:
                        self._drained = None
        except Exception:
            log.warning("body of %s %s failed midway", request.method, request.path,
                        exc_info=True)
            return False
        if left:
            log.error("body of %s %s shorter than its length", request.method, request.path)
            return False
        if chunked:
            self._write(LAST_CHUNK)
        return True

    def _may_keep_alive(self, request: Request) -> bool:
        if request is self._reader.upgrade_request:
            return False  # upgrade declined: what follows the head is not HTTP
        if self._server.draining:
            # Draining: close once nothing received is left to answer.
            return bool(self._queue) or self._reader.phase != IDLE
        return True

    def _crashed(self, request: Request) -> Response:
        log.exception("application failed on %s %s", request.method, request.path)
        return Response.error(500, "internal error")

    def _write_now(self) -> bool:
        """Write the queued output before the turn ends (closing, handing over).

        Commits first, as the turn's end would; False when that failed and the
        connection was aborted instead.
        """
        if self._out and not self._server.commit():
            self.abort()
            return False
        self.write_out()
        return True

    def _after_answers(self) -> None:
        if self._upgrade is not None and not self._queue:
            self._hand_over()
        elif self._closing:
            self._close()

    def _send_error(self) -> None:
        error = self._error
        self._server.responses[error.status // 100] += 1
        response = Response.error(error.status, error.message)
        self._write(response.encode(False, self._server.clock))
        self._close()

    def _refuse_overloaded(self) -> None:
        self._server.responses[5] += 1
        response = Response.error(503, "server overloaded", [("retry-after", "1")])
        self._write(response.encode(False, self._server.clock))
        self._close()

    def _hand_over(self) -> None:
        upgrade, self._upgrade = self._upgrade, None
        transport = self._transport
        self._server.responses[1] += 1
        self._write(upgrade.response.encode(True, self._server.clock))
        if not self._write_now():  # the new protocol's bytes must follow ours
            return
        protocol = upgrade.protocol_factory()
        tail = self._reader.upgrade_tail
        self._server.discard(self)
        self._deadline.cancel()
        self._transport = None
        self._closing = True
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if tail:
            protocol.data_received(tail)  # type: ignore[attr-defined]
        if self._read_paused:
            transport.resume_reading()

    def _close(self) -> None:
        self._closing = True
        if not self._write_now():  # close() sends what the transport holds, then closes
            return
        # Bound the flush of what is still buffered for a client that stopped reading.
        self._deadline.set(self._limits.idle_timeout, "flush")
        self._transport.close()

    # flow control and timers

    def _update_reading(self) -> None:
        paused = (
            self._write_paused
            or len(self._queue) >= self._limits.max_pipelined
            or self._reader.finished
        )
        if paused != self._read_paused:
            self._read_paused = paused
            self._armed_serial = -1
            if paused:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()

    def _update_deadline(self) -> None:
        if self._write_paused:
            return  # the "write" deadline set by pause_writing stands
        deadline = self._deadline
        reader = self._reader
        phase = reader.phase
        if self._read_paused:
            deadline.clear()  # we hold the client back; not its fault
        elif phase != IDLE:
            if reader.phase_serial != self._armed_serial:
                self._armed_serial = reader.phase_serial
                if phase == HEAD:
                    deadline.set(self._limits.header_timeout, "header")
                else:
                    deadline.set(self._limits.idle_timeout, "body")
        elif self._queue or self._busy:
            deadline.clear()
        else:
            deadline.set(self._limits.idle_timeout, "idle")

    def _on_timeout(self, reason: str) -> None:
        transport = self._transport
        if transport is None:
            return
        log.debug("closing connection from %s: %s timeout", self.peer_ip, reason)
        self._closing = True
        if reason in ("write", "flush"):
            self._out.clear()
            transport.abort()  # its buffer will not drain
        elif self._write_now():
            transport.close()


async def _close_body(body: AsyncIterator[bytes]) -> None:
    """Let a streamed body release its source (an upstream connection)."""
    aclose = getattr(body, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:
        log.warning("closing a streamed body failed", exc_info=True)


def _with_close(answer: bytes) -> bytes:
    """Complete answer bytes with a ``connection: close`` line after the status
    line, unless their head has a ``connection`` header already."""
    head = answer[:answer.find(b"\r\n\r\n") + 2].lower()
    if b"\r\nconnection:" in head:
        return answer
    line_end = answer.index(b"\r\n") + 2
    return answer[:line_end] + b"connection: close\r\n" + answer[line_end:]
