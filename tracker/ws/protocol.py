"""One WebSocket connection after the handshake: messages in order, acks, closing.

The connection takes over the transport from ``HttpProtocol`` (see
``tracker.http.Upgrade``). It pulls one event at a time from its
``FrameParser``; a data message is decoded and given to ``handle_message``,
and nothing more is read until that call (maybe awaitable) has finished, so
messages are handled and acknowledged in order and a client cannot queue
more than one socket read ahead (reading is paused meanwhile).

Closing: a Close from the client is answered with a Close, then the TCP
connection is closed (the server closes first, RFC 6455 7.1.1). When the
server closes (protocol error, bad message, idle timeout, shutdown) it sends
its Close, half-closes its side and waits up to ``close_timeout`` for the
client's Close or end of input, reading and dropping anything else, so the
client can read our Close before the socket goes away.

In a ``ServerState`` the connection stays in ``connections`` (it was counted
there when accepted), so it counts against MaxConnections, and
``HttpServer.shutdown`` closes it with 1001 once the message in hand is
acknowledged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson

from tracker.http.deadline import Deadline
from tracker.http.state import ServerState
from tracker.ws.frames import (
    Close,
    CloseCode,
    CloseError,
    FrameParser,
    Message,
    Ping,
    close_frame,
    pong_frame,
    text_frame,
)
from tracker.ws.messages import decode_message, max_binary_wire_bytes

log = logging.getLogger(__name__)

# Called with (items, is_batch) of one message; returns how many events were accepted
# (durably appended), or an awaitable of it. May raise CloseError to close with its code.
MessageHandler = Callable[[list[Any], bool], int | Awaitable[int]]

_OPEN, _CLOSE_SENT, _CLOSED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class WsLimits:
    """``max_message_bytes`` is MaxBodyBytes (the decoded JSON of one message);
    ``idle_timeout`` is ConnectionTimeout (no input for that long closes with 1001);
    ``close_timeout`` bounds the wait for the client's Close after ours."""

    max_message_bytes: int = 1_048_576
    idle_timeout: float = 30.0
    close_timeout: float = 5.0


class WebSocketProtocol(asyncio.Protocol):
    def __init__(
        self,
        handle_message: MessageHandler,
        limits: WsLimits,
        *,
        ack: bool = False,
        server: ServerState | None = None,
    ) -> None:
        self._handle = handle_message
        self._limits = limits
        self._ack = ack
        self._server = server
        max_bytes = limits.max_message_bytes
        self._parser = FrameParser(max_bytes, max_binary_wire_bytes(max_bytes))
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline: Deadline | None = None
        self._state = _OPEN
        self._busy = False  # handle_message is working on a message
        self._task: asyncio.Task[None] | None = None  # strong ref to that work
        self._eof = False  # the client will send nothing more
        self._going_away = False  # shutdown asked; close once the message in hand is acked
        self._read_paused = False
        self._write_paused = False
        self.messages = 0  # messages handled
        self.close_code: int | None = None  # the code of the Close we sent, once sent

    @property
    def pending(self) -> int:
        """Messages received and not yet answered (``ServerState.in_flight``)."""
        return int(self._busy)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        self._deadline = Deadline(self._loop, self._on_timeout)
        self._deadline.set(self._limits.idle_timeout, "idle")
        server = self._server
        if server is not None:
            # Not server.add(): the connection was counted when it was accepted.
            server.connections.add(self)
            if server.draining:
                self._start_close(CloseCode.GOING_AWAY, "server shutting down")

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        self._transport = None
        if self._deadline is not None:
            self._deadline.cancel()
        if self._server is not None:
            self._server.discard(self)

    def data_received(self, data: bytes) -> None:
        if self._state == _CLOSED:
            return
        self._parser.feed(data)
        if self._busy:
            # Reading was resumed behind our back (the HTTP layer does after a
            # deferred upgrade): pause again, what arrived waits in the parser.
            self._read_paused = True
            self._transport.pause_reading()
        elif self._state == _OPEN:
            self._deadline.set(self._limits.idle_timeout, "idle")
        self._process()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._state == _OPEN and (self._busy or self._parser.buffered):
            # Keep writing: acks for what was received are still due.
            self._process()
            return True
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        self._write_paused = True
        self._deadline.set(self._limits.idle_timeout, "write")
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._state == _CLOSE_SENT:
            self._deadline.set(self._limits.close_timeout, "close")
        elif self._state == _OPEN and not self._busy:
            self._deadline.set(self._limits.idle_timeout, "idle")
        self._update_reading()

    # shutdown, driven by HttpServer through ServerState.connections

    def shutdown(self) -> None:
        """Close with 1001 now, or after acknowledging the message being handled."""
        self._going_away = True
        if not self._busy:
            self._start_close(CloseCode.GOING_AWAY, "server shutting down")

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def write_out(self) -> None:
        """Nothing to do: frames are written at once (``ServerState`` protocol)."""

    # events

    def _process(self) -> None:
        """Act on received events in order until one needs to wait."""
        while not self._busy and self._state != _CLOSED and self._transport is not None:
            try:
                event = self._parser.next_event()
            except CloseError as exc:
                self._fail(exc)
                return
            if event is None:
                break
            if self._state == _CLOSE_SENT:
                if isinstance(event, Close):
                    self._state = _CLOSED
                    self._transport.close()  # the close handshake is complete
                    return
                continue  # after our Close, data and pings are dropped
            if isinstance(event, Message):
                self._on_message(event)
            elif isinstance(event, Ping):
                self._transport.write(pong_frame(event.data))
            elif isinstance(event, Close):
                self._on_close(event)
        if self._eof and not self._busy and self._state == _OPEN:
            self._state = _CLOSED
            self._transport.close()  # input ended without a Close; all answered
            return
        self._update_reading()

    def _on_message(self, message: Message) -> None:
        try:
            items, is_batch = decode_message(
                message.data, message.binary, self._limits.max_message_bytes
            )
            result = self._handle(items, is_batch)
        except CloseError as exc:
            self._fail(exc)
            return
        except Exception:
            log.exception("handling a WebSocket message failed")
            self._fail(CloseError(CloseCode.INTERNAL_ERROR, "internal error"))
            return
        if inspect.isawaitable(result):
            self._busy = True
            self._deadline.clear()  # nothing is timed while the application works
            self._task = self._loop.create_task(self._finish_later(result))
        else:
            self._handled(result)

    async def _finish_later(self, awaitable: Awaitable[int]) -> None:
        error: CloseError | None = None
        try:
            accepted = await awaitable
        except CloseError as exc:
            error = exc
        except Exception:
            log.exception("handling a WebSocket message failed")
            error = CloseError(CloseCode.INTERNAL_ERROR, "internal error")
        self._busy = False
        self._task = None
        if self._state == _OPEN:
            self._deadline.set(self._limits.idle_timeout, "idle")
        if error is None:
            self._handled(accepted)
        else:
            self._fail(error)
        self._process()  # what arrived meanwhile, the client's Close included

    def _handled(self, accepted: int) -> None:
        self.messages += 1
        if self._transport is None or self._state != _OPEN:
            return  # the client left meanwhile: nobody to acknowledge to
        if self._ack:
            self._transport.write(text_frame(orjson.dumps({"accepted": accepted})))
        if self._going_away:
            self._start_close(CloseCode.GOING_AWAY, "server shutting down")

    def _on_close(self, close: Close) -> None:
        """The client closes: answer with the same code, then close the TCP connection."""
        self._state = _CLOSED
        self.close_code = close.code
        self._transport.write(close_frame(close.code))
        self._transport.close()

    # closing

    def _fail(self, error: CloseError) -> None:
        if error.code not in (CloseCode.GOING_AWAY, CloseCode.NORMAL):
            log.debug("closing WebSocket with %d: %s", error.code, error.reason)
        self._start_close(error.code, error.reason)

    def _start_close(self, code: int, reason: str) -> None:
        """Send our Close, stop sending, and wait a little for the client's Close or EOF."""
        transport = self._transport
        if self._state != _OPEN or transport is None:
            return
        self._state = _CLOSE_SENT
        self.close_code = code
        transport.write(close_frame(code, reason))
        if self._eof:
            transport.close()
            return
        if _can_write_eof(transport):
            transport.write_eof()  # the client sees our end at once, even mid-send
        self._deadline.set(self._limits.close_timeout, "close")
        self._update_reading()

    def _on_timeout(self, reason: str) -> None:
        transport = self._transport
        if transport is None:
            return
        if reason == "idle":
            log.debug("closing idle WebSocket")
            self._start_close(CloseCode.GOING_AWAY, "idle timeout")
        elif reason == "close" and transport.get_write_buffer_size() == 0:
            transport.close()
        else:  # "write": the client stopped reading; its buffer will not drain
            self._state = _CLOSED
            transport.abort()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._state == _CLOSED:
            return
        paused = self._busy or self._write_paused
        if paused != self._read_paused:
            self._read_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()


def _can_write_eof(transport: asyncio.Transport) -> bool:
    try:
        return transport.can_write_eof()
    except NotImplementedError:
        return False
