"""The steps of an HTTP connection that run on every request (pure-Python
twin of connection.pyx).

``ConnectionCore`` is the base of ``tracker.http.protocol.HttpProtocol``: it
holds the connection's state and does what each keep-alive request costs
(reading, answering in order, queueing the answer for the turn's write,
pushing the idle deadline). Everything rarer (errors, streaming, upgrades,
flow control, closing) is HttpProtocol's, and this class calls it by name:
``_answer_general``, ``_crashed``, ``_after_answers``, ``_send_error``,
``_refuse_overloaded``, ``_close``, ``_update_reading``, ``_update_deadline``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from tracker._fast.httpmessage import IDLE, RequestError

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ConnectionCore:
    def __init__(self, app: Any, limits: Any, server: Any, tls: bool = False) -> None:
        self._app = app
        self._limits = limits
        self._server = server
        self._tls = tls
        self._transport: Any = None
        self._loop: Any = None
        self._deadline: Any = None
        self._reader: Any = None
        self._queue: deque[Any] = deque()
        self._out: list[bytes] = []  # answers not yet handed to the transport
        self._busy = False  # the app is producing an awaitable response
        self._task: Any = None  # strong ref to that work
        self._stream: Any = None  # writing a StreamingResponse
        self._drained: Any = None  # the stream waits for resume_writing
        self._closing = False  # no further response will be written
        self._rejecting = False  # over max_connections: answer 503 and close
        self._error: Any = None  # RequestError to send once the queue is answered
        self._upgrade: Any = None  # Upgrade to perform once earlier responses are out
        self._write_paused = False
        self._read_paused = False
        self._armed_serial = -1  # reader phase the current deadline was set for
        self.peer_ip = ""

    @property
    def pending(self) -> int:
        """Requests received on this connection and not yet answered."""
        return len(self._queue) + self._busy

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._rejecting:
            self._refuse_overloaded()
            return
        try:
            self._reader.feed(data)
        except RequestError as exc:
            self._error = exc
        if self._queue and not self._busy:
            self._run_queue()
        self._after_io()

    def _run_queue(self) -> None:
        """Answer queued requests in order until one needs to wait or closes."""
        queue = self._queue
        server = self._server
        reader = self._reader
        out = self._out
        handle = self._app.handle
        responses = server.responses
        was_empty = not out
        while queue and not self._busy and not self._closing and self._upgrade is None:
            request = queue.popleft()
            server.requests_total += 1
            try:
                reply = handle(request)
            except Exception:
                reply = self._crashed(request)
            if (type(reply) is bytes and request.keep_alive and not server.draining
                    and not reader.finished):
                # Complete answer bytes (the compiled single-event path's), the
                # connection kept alive.
                out.append(reply)
                responses[reply[9] - 48] += 1  # the status's first digit
                continue
            self._answer_general(request, reply)
        if out and was_empty:
            server.output_pending(self)
        if self._upgrade is not None or self._closing:
            self._after_answers()

    def _after_io(self) -> None:
        """Settle what follows from the latest event: errors, 100-continue, reading, timers."""
        if self._closing or self._transport is None:
            return
        if not self._queue and not self._busy:
            reader = self._reader
            if reader.phase == IDLE and not (
                self._error or reader.finished or self._read_paused or self._write_paused
            ):
                # The common case: all answered, wait for the next request.
                self._deadline.set(self._limits.idle_timeout, "idle")
                return
            if self._error is not None:
                self._send_error()
                return
            if reader.continue_wanted:
                reader.continue_wanted = False
                self._write(_CONTINUE)
            if reader.finished and reader.upgrade_request is None:
                self._close()  # end of input (EOF) with everything answered
                return
        self._update_reading()
        self._update_deadline()

    def _write(self, data: bytes) -> None:
        """Queue ``data`` for the server's write at the end of this loop turn."""
        out = self._out
        out.append(data)
        if len(out) == 1:
            self._server.output_pending(self)

    def write_out(self) -> None:
        """Hand the queued output to the transport; ServerState calls this once per
        turn, after its ``commit``."""
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self._transport is not None:
            self._transport.write(data)


class ServerCore:
    """What every connection of one server touches per request: the request
    and response counters, the drain flag, and the connections with answers
    queued in this loop turn, written together at its end once ``commit()``
    (``before_write``, see ServerState) made them safe to send. The base class
    of ServerState, which has the rest."""

    def __init__(self, before_write: Callable[[], None] | None = None) -> None:
        self.requests_total = 0  # requests handed to the application
        self.responses = [0] * 6  # index: status // 100
        self.draining = False
        self._waiting: list[ConnectionCore] = []
        self._before_write = before_write
        self._commit_failing = False  # a failing commit is logged once, not every turn

    def commit(self) -> bool:
        """Run ``before_write``; False (logged) when it failed: no answer may go out."""
        if self._before_write is None:
            return True
        try:
            self._before_write()
        except Exception as exc:
            if not self._commit_failing:
                self._commit_failing = True
                self._log_commit_failure(exc)  # ServerState's
            return False
        if self._commit_failing:
            self._commit_failing = False
            self._log_commit_recovery()  # ServerState's
        return True

    def _log_commit_failure(self, exc: Exception) -> None:  # ServerState's
        raise NotImplementedError

    def _log_commit_recovery(self) -> None:  # ServerState's
        raise NotImplementedError

    def output_pending(self, conn: ConnectionCore) -> None:
        """``conn`` queued output: write it, with everyone else's, at the end of this turn."""
        waiting = self._waiting
        waiting.append(conn)
        if len(waiting) == 1:
            # The connection's loop, kept since connection_made: asyncio's
            # get_running_loop() asks the OS for the pid every time.
            conn._loop.call_soon(self.write_output)

    def write_output(self) -> None:
        """Write the output every connection queued since the last call."""
        waiting, self._waiting = self._waiting, []
        if not self.commit():
            for conn in waiting:
                conn.abort()  # HttpProtocol's
            return
        for conn in waiting:
            conn.write_out()
