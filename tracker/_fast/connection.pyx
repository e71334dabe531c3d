# cython: language_level=3, boundscheck=False, wraparound=False
"""The steps of an HTTP connection that run on every request (compiled; twin:
connection_py.py, whose docstring says what belongs here).

Compiled because they ran as a dozen Python frames per keep-alive request:
with the state in C fields, a request that the reader reads plainly and the
application answers with complete bytes (the compiled single-event path)
costs no Python frame of the HTTP layer but the application's own.
"""

from collections import deque

from tracker._fast.httpmessage import RequestError
from tracker._fast.deadline cimport Deadline
from tracker._fast.httpreader cimport RequestReader
from tracker._fast.request cimport Request

cdef enum:
    IDLE = 0  # the reader's phase between messages (httpmessage.IDLE)

cdef bytes _CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


cdef class ConnectionCore:
    cdef public object _app, _limits, _transport, _loop
    cdef public ServerCore _server
    cdef public Deadline _deadline
    cdef public RequestReader _reader
    cdef public object _queue  # a deque of Requests not yet answered
    cdef public list _out  # answers not yet handed to the transport
    cdef public bint _tls
    cdef public bint _busy  # the app is producing an awaitable response
    cdef public object _task  # strong ref to that work
    cdef public object _stream  # writing a StreamingResponse
    cdef public object _drained  # the stream waits for resume_writing
    cdef public bint _closing  # no further response will be written
    cdef public bint _rejecting  # over max_connections: answer 503 and close
    cdef public object _error  # RequestError to send once the queue is answered
    cdef public object _upgrade  # Upgrade to perform once earlier responses are out
    cdef public bint _write_paused, _read_paused
    cdef public long _armed_serial  # reader phase the current deadline was set for
    cdef public str peer_ip
    cdef object _handle  # the app's handle
    cdef double _idle_timeout

    def __init__(self, app, limits, server, bint tls=False):
        self._app = app
        self._limits = limits
        self._server = server
        self._tls = tls
        self._transport = None
        self._loop = None
        self._deadline = None
        self._reader = None
        self._queue = deque()
        self._out = []
        self._busy = False
        self._task = None
        self._stream = None
        self._drained = None
        self._closing = False
        self._rejecting = False
        self._error = None
        self._upgrade = None
        self._write_paused = False
        self._read_paused = False
        self._armed_serial = -1
        self.peer_ip = ""
        self._handle = app.handle
        self._idle_timeout = limits.idle_timeout

    @property
    def pending(self):
        """Requests received on this connection and not yet answered."""
        return len(self._queue) + self._busy

    def data_received(self, data):
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

    cpdef _run_queue(self):
        """Answer queued requests in order until one needs to wait or closes."""
        cdef object queue = self._queue
        cdef ServerCore server = self._server
        cdef RequestReader reader = self._reader
        cdef list out = self._out
        cdef list responses = server.responses
        cdef object handle = self._handle
        cdef bint was_empty = not out
        cdef bytes answer
        cdef Py_ssize_t digit
        cdef Request request
        cdef bint draining = server.draining  # a drain starts between turns
        while queue and not self._busy and not self._closing and self._upgrade is None:
            request = queue.popleft()
            server.requests_total += 1
            try:
                reply = handle(request)
            except Exception:
                reply = self._crashed(request)
            if type(reply) is bytes and request.keep_alive and not draining and not reader.finished:
                # Complete answer bytes (the compiled single-event path's), the
                # connection kept alive.
                answer = <bytes>reply
                out.append(answer)
                digit = answer[9] - 48  # the status's first digit
                responses[digit] += 1
                continue
            self._answer_general(request, reply)
        if out and was_empty:
            server.output_pending(self)
        if self._upgrade is not None or self._closing:
            self._after_answers()

    cpdef _after_io(self):
        """Settle what follows from the latest event: errors, 100-continue, reading, timers."""
        if self._closing or self._transport is None:
            return
        cdef RequestReader reader = self._reader
        if not self._queue and not self._busy:
            if reader.phase == IDLE and not (
                self._error is not None or reader.finished or self._read_paused
                or self._write_paused
            ):
                # The common case: all answered, wait for the next request.
                self._deadline.set(self._idle_timeout, "idle")
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

    cpdef _write(self, data):
        """Queue ``data`` for the server's write at the end of this loop turn."""
        cdef list out = self._out
        out.append(data)
        if len(out) == 1:
            self._server.output_pending(self)

    cpdef write_out(self):
        """Hand the queued output to the transport; ServerState calls this once per
        turn, after its ``commit``."""
        cdef list out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        if self._transport is not None:
            self._transport.write(data)


cdef class ServerCore:
    """What every connection of one server touches per request: the request
    and response counters, the drain flag, and the connections with answers
    queued in this loop turn, written together at its end once ``commit()``
    (``before_write``, see ServerState) made them safe to send. The base class
    of ServerState, which has the rest."""

    cdef public long long requests_total  # requests handed to the application
    cdef public list responses  # index: status // 100
    cdef public bint draining
    cdef list _waiting
    cdef object _before_write
    cdef public bint _commit_failing  # a failing commit is logged once, not every turn

    def __init__(self, before_write=None):
        self.requests_total = 0
        self.responses = [0] * 6
        self.draining = False
        self._waiting = []
        self._before_write = before_write
        self._commit_failing = False

    cpdef bint commit(self) except -1:
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

    def _log_commit_failure(self, exc):  # ServerState's
        raise NotImplementedError

    def _log_commit_recovery(self):  # ServerState's
        raise NotImplementedError

    cpdef output_pending(self, ConnectionCore conn):
        """``conn`` queued output: write it, with everyone else's, at the end of this turn."""
        cdef list waiting = self._waiting
        waiting.append(conn)
        if len(waiting) == 1:
            # The connection's loop, kept since connection_made: asyncio's
            # get_running_loop() asks the OS for the pid every time.
            conn._loop.call_soon(self.write_output)

    def write_output(self):
        """Write the output every connection queued since the last call."""
        cdef list waiting = self._waiting
        self._waiting = []
        cdef ConnectionCore conn
        if not self.commit():
            for conn in waiting:
                conn.abort()
            return
        for conn in waiting:
            conn.write_out()
