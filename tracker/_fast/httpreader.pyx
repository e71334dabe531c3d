# cython: language_level=3, boundscheck=False, wraparound=False
"""Turning a connection's bytes into Requests (compiled; twin: httpreader_py.py).

The same state machine as the twin, with the httptools callbacks compiled:
they run once per header of every request, which made them the largest cost
of the HTTP layer in Python. Header values and the target are decoded
straight from the callback's bytes, trailing blanks and the split at "?"
found in C first.

Plain requests skip httptools altogether (``_read_plain``): a request whose
head and body are whole in the bytes received, in the narrow form nearly every
client sends (GET, HEAD, POST or OPTIONS of an origin-form target, HTTP/1.1 or
1.0, CRLF lines, header values of visible ASCII, at most one Content-Length and
no Transfer-Encoding or Upgrade), within every limit. It is read in C from the
bytes, with no callback per header. Anything else, including a request cut
between two reads, goes to httptools from the start of that request, so the
two parsers never share a message; httptools keeps the connection until it
stands between two messages again. The result is the same either way: the
tests feed both this reader and the twin (httptools only) the same bytes.
"""

import logging

import httptools

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memchr, memcmp

cdef extern from "strings.h":
    int strncasecmp(const char* a, const char* b, size_t n)

cdef extern from "Python.h":
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)

from tracker._fast.request cimport new_request
from tracker._fast.httpmessage import (
    HEADER_NAMES,
    METHODS,
    REQUEST_LINE_OVERHEAD,
    RequestError,
    split_unusual_target,
)

log = logging.getLogger("tracker.http.reader")


cdef dict _HEADER_NAMES = HEADER_NAMES
cdef dict _METHODS = METHODS
cdef Py_ssize_t _LINE_OVERHEAD = REQUEST_LINE_OVERHEAD
# The known header names by length, for the plain-request reader: [(lowercase
# bytes, name)] per length, so a name is found by a few compares, not a hash.
cdef Py_ssize_t _LONGEST_KNOWN = max(len(name) for name in HEADER_NAMES.values())
cdef list _KNOWN_BY_LENGTH = [
    [(name.encode(), name) for name in sorted(set(HEADER_NAMES.values())) if len(name) == size]
    for size in range(_LONGEST_KNOWN + 1)
]
cdef enum:
    PLAIN_NAME_MAX = 64  # longer header names go to httptools
    RECENT_HEADERS = 16  # header values remembered per connection, by position...
    RECENT_VALUE_MAX = 512  # ...when at most this long
    CONNECTION_KEEP_ALIVE = 1
    CONNECTION_CLOSE = 2
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
        self._in_parser = False
        self._recent_values = []

    cpdef feed(self, data):
        if self.finished:
            if self.upgrade_request is not None:
                self.upgrade_tail += data  # arrived before reading paused
            return  # after Connection: close, an upgrade or an error
        cdef Py_ssize_t done
        if not self._in_parser and type(data) is bytes:
            done = self._read_plain(<bytes>data)
            if done == PyBytes_GET_SIZE(data) or self.finished:
                return  # the bytes after a "Connection: close" request are dropped
            if done:
                data = data[done:]
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
        self._in_parser = self.phase != IDLE
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
        _add_header(self._headers, key, _latin1(raw, _without_trailing_blanks(raw, length)))

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
        cdef bint keep_alive = self._keep_alive
        # Only 1.1 keeps alive without a Connection header: spares a parser call.
        if keep_alive and "connection" not in headers:
            version = "1.1"
        else:
            version = parser.get_http_version()
        cdef PyObject* known = PyDict_GetItem(_METHODS, method)
        self._body = b""
        self._complete(<object>known if known is not NULL else method.decode("latin-1"),
                       PyBytes_AS_STRING(self._url), PyBytes_GET_SIZE(self._url), headers,
                       body if type(body) is bytes else bytes(body), keep_alive, version)

    cdef _complete(self, str method, const char* raw, Py_ssize_t size, dict headers,
                   bytes body, bint keep_alive, str version):
        """Deliver the finished request whose target is ``raw[:size]``."""
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
        request = new_request(method, path, query, headers, body, self._peer_ip, self._tls,
                              keep_alive, version)
        self._last = request
        self.phase = IDLE
        self.phase_serial += 1
        self.continue_wanted = False
        if not keep_alive:
            self.finished = True
        self._deliver(request)

    # plain requests, read without httptools (module docstring)

    cdef Py_ssize_t _read_plain(self, bytes data) except -1:
        """Deliver the plain requests at the start of ``data``; how many bytes they took."""
        cdef const char* buf = PyBytes_AS_STRING(data)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t pos = 0, end
        while pos < size and not self.finished:
            end = self._plain_request(buf + pos, size - pos)
            if end == 0:
                break
            pos += end
        return pos

    cdef Py_ssize_t _plain_request(self, const char* buf, Py_ssize_t size) except -1:
        """Read one plain request at ``buf`` and deliver it: the bytes it took, or 0
        (nothing delivered, nothing changed) when it is not plain or not whole."""
        cdef Py_ssize_t p, start, url_size, name_size, value_size, text_size, i
        cdef Py_ssize_t position = 0
        cdef list recent = self._recent_values
        cdef Py_ssize_t head_bytes, content_length = -1
        cdef int connection = 0
        cdef bint http11
        cdef str method, key, text
        cdef unsigned char c
        cdef char lowered[PLAIN_NAME_MAX]
        # request line: METHOD SP origin-form SP HTTP/1.x CRLF
        if size >= 4 and memcmp(buf, b"GET ", 4) == 0:
            method, p = "GET", 4
        elif size >= 5 and memcmp(buf, b"POST ", 5) == 0:
            method, p = "POST", 5
        elif size >= 5 and memcmp(buf, b"HEAD ", 5) == 0:
            method, p = "HEAD", 5
        elif size >= 8 and memcmp(buf, b"OPTIONS ", 8) == 0:
            method, p = "OPTIONS", 8
        else:
            return 0
        start = p
        while p < size and 0x21 <= <unsigned char>buf[p] <= 0x7E:
            p += 1
        url_size = p - start
        if p >= size or buf[p] != ord(" ") or not url_size or buf[start] != ord("/") \
                or url_size > self._max_url:
            return 0
        p += 1
        if size - p < 10 or memcmp(buf + p, b"HTTP/1.", 7) != 0 \
                or buf[p + 8] != ord("\r") or buf[p + 9] != ord("\n"):
            return 0
        if buf[p + 7] == ord("1"):
            http11 = True
        elif buf[p + 7] == ord("0"):
            http11 = False
        else:
            return 0
        p += 10
        # header lines: name ":" OWS value CRLF; a blank line ends the head
        head_bytes = url_size + _LINE_OVERHEAD
        cdef dict headers = {}
        while True:
            if size - p < 2:
                return 0
            if buf[p] == ord("\r"):
                if buf[p + 1] != ord("\n"):
                    return 0
                p += 2
                break
            start = p
            while p < size and _is_token_byte(<unsigned char>buf[p]):
                p += 1
            name_size = p - start
            if p >= size or buf[p] != ord(":") or not name_size or name_size > PLAIN_NAME_MAX:
                return 0
            for i in range(name_size):
                c = <unsigned char>buf[start + i]
                lowered[i] = c + 32 if 65 <= c <= 90 else c
            p += 1
            while p < size and (buf[p] == ord(" ") or buf[p] == ord("\t")):
                p += 1
            start = p
            while p < size and (0x20 <= <unsigned char>buf[p] <= 0x7E or buf[p] == ord("\t")):
                p += 1
            if size - p < 2 or buf[p] != ord("\r") or buf[p + 1] != ord("\n"):
                return 0
            value_size = p - start
            p += 2
            # The same count as on_header: httptools gives the value with its
            # trailing blanks, without the leading ones.
            head_bytes += name_size + value_size + 4
            if head_bytes > self._max_header:
                return 0
            text_size = _without_trailing_blanks(buf + start, value_size)
            key = _known_name(lowered, name_size)
            if key is None:
                key = _latin1(lowered, name_size)
            elif key is _CONTENT_LENGTH:
                if content_length >= 0:
                    return 0  # repeated: httptools decides
                content_length = _digits(buf + start, text_size)
                if content_length < 0 or content_length > self._max_body:
                    return 0
            elif key is _TRANSFER_ENCODING or key is _UPGRADE:
                return 0
            elif key is _CONNECTION:
                if text_size == 10 and strncasecmp(buf + start, b"keep-alive", 10) == 0:
                    connection = CONNECTION_KEEP_ALIVE
                elif text_size == 5 and strncasecmp(buf + start, b"close", 5) == 0:
                    connection = CONNECTION_CLOSE
                else:
                    return 0
            text = None
            if position < len(recent):
                text = <str>recent[position]
                if PyUnicode_GET_LENGTH(text) != text_size \
                        or memcmp(PyUnicode_DATA(text), buf + start, text_size) != 0:
                    text = None
            if text is None:
                text = _latin1(buf + start, text_size)
                if text_size <= RECENT_VALUE_MAX:
                    if position < len(recent):
                        recent[position] = text
                    elif position < RECENT_HEADERS:
                        recent.append(text)
            position += 1
            _add_header(headers, key, text)
        cdef bytes body = b""
        if content_length > 0:
            if size - p < content_length:
                return 0
            body = PyBytes_FromStringAndSize(buf + p, content_length)
            p += content_length
        cdef bint keep_alive = (connection != CONNECTION_CLOSE if http11
                                else connection == CONNECTION_KEEP_ALIVE)
        # What on_message_begin and on_headers_complete would have left.
        self.phase_serial += 2
        self._complete(method, buf + (len(method) + 1), url_size, headers, body, keep_alive,
                       "1.1" if http11 else "1.0")
        return p


cdef inline Py_ssize_t _without_trailing_blanks(const char* text, Py_ssize_t size) noexcept:
    """The size of ``text[:size]`` without its trailing spaces and tabs."""
    while size > 0 and (text[size - 1] == ord(" ") or text[size - 1] == ord("\t")):
        size -= 1
    return size


cdef inline void _add_header(dict headers, key, str text) except *:
    """Add a header to ``headers``; a repeated one is joined to the first with
    ", " ("; " for cookie)."""
    cdef PyObject* old = PyDict_GetItem(headers, key)
    if old is NULL:
        PyDict_SetItem(headers, key, text)
    else:
        PyDict_SetItem(headers, key, <str>old + ("; " if key == "cookie" else ", ") + text)


cdef inline bint _is_token_byte(unsigned char c) noexcept nogil:
    # RFC 9110 tchar: ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~
    if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
        return True
    return c in b"!#$%&'*+-.^_`|~"


cdef str _known_name(const char* lowered, Py_ssize_t size):
    """The name of a known header, given lowercase; None for another."""
    if size > _LONGEST_KNOWN:
        return None
    for encoded, name in <list>_KNOWN_BY_LENGTH[size]:
        if memcmp(PyBytes_AS_STRING(encoded), lowered, size) == 0:
            return name
    return None


cdef Py_ssize_t _digits(const char* text, Py_ssize_t size):
    """The decimal number ``text[:size]`` (1 to 18 digits), or -1."""
    cdef Py_ssize_t value = 0, i
    if size < 1 or size > 18:
        return -1
    for i in range(size):
        if not 48 <= <unsigned char>text[i] <= 57:
            return -1
        value = value * 10 + (text[i] - 48)
    return value


# The names the plain reader looks at, as the very objects _known_name returns:
# an identity test suffices.
cdef str _CONTENT_LENGTH = _known_name(b"content-length", 14)
cdef str _TRANSFER_ENCODING = _known_name(b"transfer-encoding", 17)
cdef str _UPGRADE = _known_name(b"upgrade", 7)
cdef str _CONNECTION = _known_name(b"connection", 10)
