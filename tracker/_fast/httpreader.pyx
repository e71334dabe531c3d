# cython: language_level=3, boundscheck=False, wraparound=False
"""Turning a connection's bytes into Requests (compiled; twin: httpreader_py.py).

The same state machine as the twin, with the httptools callbacks compiled:
they run once per header of every request, which made them the largest cost
of the HTTP layer in Python. Header values and the target are decoded
straight from the callback's bytes, trailing blanks and the split at "?"
found in C first.
"""

import logging

import httptools

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr

from tracker._fast.httpmessage import (
    HEADER_NAMES,
    METHODS,
    REQUEST_LINE_OVERHEAD,
    Request,
    RequestError,
    split_unusual_target,
)

log = logging.getLogger("tracker.http.reader")


cdef dict _HEADER_NAMES = HEADER_NAMES
cdef dict _METHODS = METHODS
cdef Py_ssize_t _LINE_OVERHEAD = REQUEST_LINE_OVERHEAD
# The phases, as in httpmessage (IDLE, HEAD, BODY).
cdef enum:
    IDLE = 0
    HEAD = 1
    BODY = 2

cdef object _ParserUpgrade = httptools.HttpParserUpgrade
cdef object _ParserError = httptools.HttpParserError
cdef object _ParserCallbackError = httptools.HttpParserCallbackError


class _Abort(Exception):
    """Raised inside a parser callback to stop parsing; the reason is kept aside."""


cdef inline str _latin1(const char* data, Py_ssize_t size):
    return PyUnicode_DecodeLatin1(data, size, NULL)


cdef class RequestReader:
    """Feeds bytes to httptools and hands each complete ``Request`` to ``deliver``.

    ``feed`` raises ``RequestError`` for a request that breaks HTTP or a limit;
    requests completed before it in the same bytes were already delivered.
    """

    cdef object _deliver
    cdef object _parser
    cdef object _error
    cdef object _last
    cdef str _peer_ip
    cdef bint _tls
    cdef bint _keep_alive
    cdef Py_ssize_t _max_body
    cdef Py_ssize_t _max_header
    cdef Py_ssize_t _max_url
    # The message being read; reset by on_message_begin.
    cdef bytes _url
    cdef dict _headers
    cdef object _body  # bytes, or a bytearray once a second chunk arrives
    cdef Py_ssize_t _head_bytes  # request line + complete header lines
    cdef Py_ssize_t _head_seen  # whole chunks received while still in this head
    cdef Py_ssize_t _body_size
    cdef public int phase
    cdef public long phase_serial  # changes at every phase change
    cdef public bint continue_wanted  # "Expect: 100-continue" seen, body not started
    cdef public bint finished  # no further request will be read on this connection
    cdef public object upgrade_request
    cdef public object upgrade_tail  # bytes after an upgrade request's head

    def __init__(self, limits, str peer_ip, bint tls, deliver):
        # Limits is frozen: its numbers are read once.
        self._max_body = limits.max_body_bytes
        self._max_header = limits.max_header_bytes
        self._max_url = limits.max_url_bytes
        self._peer_ip = peer_ip
        self._tls = tls
        self._deliver = deliver
        self._parser = httptools.HttpRequestParser(self)
        self.phase = IDLE
        self.phase_serial = 0
        self.continue_wanted = False
        self.finished = False
        self.upgrade_request = None
        self.upgrade_tail = b""
        self._error = None
        self._last = None
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._head_seen = 0
        self._body = b""
        self._body_size = 0
        self._keep_alive = True

    def feed(self, data):
        if self.finished:
            if self.upgrade_request is not None:
                self.upgrade_tail += data  # arrived before reading paused
            return  # after Connection: close, an upgrade or an error
        cdef long serial = self.phase_serial
        try:
            self._parser.feed_data(data)
        except _ParserUpgrade as exc:
            self.finished = True
            self.upgrade_request = self._last
            self.upgrade_tail = bytes(data[exc.args[0]:])
            return
        except _ParserError as exc:
            self._parser_failed(exc)
        if self.phase == HEAD and serial == self.phase_serial:
            # The whole chunk belonged to an unfinished head. httptools keeps a
            # partial header line to itself, so the callbacks cannot see it grow.
            self._head_seen += len(data)
            if self._head_seen > self._max_header:
                self.finished = True
                raise RequestError(431, "request headers too large")

    cdef _parser_failed(self, exc):
        cdef bint was_finished = self.finished
        self.finished = True
        error = self._error
        if error is not None:
            raise error
        if was_finished:
            return  # bytes after a "Connection: close" request are dropped
        if isinstance(exc, _ParserCallbackError):
            # One of our callbacks failed for a reason other than a limit.
            log.error("HTTP parser callback failed", exc_info=exc.__context__)
            raise RequestError(400, "malformed request") from None
        raise RequestError(400, f"malformed request: {exc}") from None

    cdef _reject(self, int status, str message):
        self._error = RequestError(status, message)
        raise _Abort

    # httptools callbacks

    def on_message_begin(self):
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._head_seen = 0
        self._body_size = 0
        self.continue_wanted = False
        self.phase = HEAD
        self.phase_serial += 1

    def on_url(self, bytes url):
        if self._url:
            url = self._url + url
        self._url = url
        cdef Py_ssize_t size = PyBytes_GET_SIZE(url)
        if size > self._max_url:
            self._reject(414, "request URI too long")
        self._head_bytes = size + _LINE_OVERHEAD

    def on_header(self, bytes name, bytes value):
        cdef Py_ssize_t length = PyBytes_GET_SIZE(value)
        cdef Py_ssize_t size = self._head_bytes + PyBytes_GET_SIZE(name) + length + 4
        self._head_bytes = size
        if size > self._max_header:
            self._reject(431, "request headers too large")
        cdef PyObject* known = PyDict_GetItem(_HEADER_NAMES, name)
        cdef object key
        if known is not NULL:
            key = <object>known
        else:
            key = name.lower().decode("latin-1")
        cdef const char* raw = PyBytes_AS_STRING(value)
        while length > 0 and (raw[length - 1] == ord(" ") or raw[length - 1] == ord("\t")):
            length -= 1
        cdef str text = _latin1(raw, length)
        cdef dict headers = self._headers
        cdef PyObject* old = PyDict_GetItem(headers, key)
        if old is NULL:
            PyDict_SetItem(headers, key, text)
        else:
            PyDict_SetItem(headers, key,
                           <str>old + ("; " if key == "cookie" else ", ") + text)

    def on_headers_complete(self):
        self.phase = BODY
        self.phase_serial += 1
        self._keep_alive = self._parser.should_keep_alive()
        cdef dict headers = self._headers
        length = headers.get("content-length")
        if length is not None and int(length) > self._max_body:
            self._reject(413, "request body too large")
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue":
            self.continue_wanted = self._parser.get_http_version() == "1.1"

    def on_body(self, bytes body):
        cdef Py_ssize_t size = self._body_size + PyBytes_GET_SIZE(body)
        if size > self._max_body:
            self._reject(413, "request body too large")
        self._body_size = size
        self.continue_wanted = False
        if not self._body:
            self._body = body
        else:
            if type(self._body) is bytes:
                self._body = bytearray(self._body)
            self._body += body

    def on_message_complete(self):
        parser = self._parser
        method = parser.get_method()
        cdef dict headers = self._headers
        body = self._body
        cdef bytes url = self._url
        cdef const char* raw = PyBytes_AS_STRING(url)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(url)
        cdef const char* mark
        cdef str path, query
        if size and raw[0] == ord("/") and memchr(raw, ord("#"), size) == NULL:
            mark = <const char*>memchr(raw, ord("?"), size)
            if mark == NULL:
                path = _latin1(raw, size)
                query = ""
            else:
                path = _latin1(raw, mark - raw)
                query = _latin1(mark + 1, size - (mark - raw) - 1)
        else:
            path, query = split_unusual_target(_latin1(raw, size))
        cdef bint keep_alive = self._keep_alive
        # Only 1.1 keeps alive without a Connection header: spares a parser call.
        if keep_alive and "connection" not in headers:
            version = "1.1"
        else:
            version = parser.get_http_version()
        cdef PyObject* known = PyDict_GetItem(_METHODS, method)
        request = Request(
            <object>known if known is not NULL else method.decode("latin-1"),
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
        if not keep_alive:
            self.finished = True
        self._deliver(request)
