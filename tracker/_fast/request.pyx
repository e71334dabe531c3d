# cython: language_level=3
"""One parsed HTTP request (compiled; twin: request_py.py).

Compiled because the reader makes one per request: the twin's dataclass
``__init__`` was a Python frame of its own; ``new_request`` fills the fields
in C.
"""

from tracker._fast.httpmessage import parse_cookies


cdef class Request:
    """One parsed HTTP request.

    ``path`` and ``query`` are the raw request target, still percent-encoded
    (``query`` without the ``?``). Header names are lowercase; a repeated
    header is joined with ``", "`` (``cookie`` with ``"; "``). Text is decoded
    as latin-1, so ``s.encode("latin-1")`` gives back the bytes on the wire.
    """

    def __init__(self, str method, str path, str query, dict headers, bytes body,
                 str peer_ip, bint tls, bint keep_alive, str http_version="1.1"):
        self._set(method, path, query, headers, body, peer_ip, tls, keep_alive, http_version)

    cdef inline void _set(self, str method, str path, str query, dict headers, bytes body,
                          str peer_ip, bint tls, bint keep_alive, str http_version):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.peer_ip = peer_ip
        self.tls = tls
        self.keep_alive = keep_alive
        self.http_version = http_version
        self._cookies = None

    def cookie(self, str name):
        """The value of cookie ``name``, or None. Parsed on first use."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookies(self.headers.get("cookie", ""))
        return cookies.get(name)

    cdef tuple _fields(self):
        return (self.method, self.path, self.query, self.headers, self.body, self.peer_ip,
                self.tls, self.keep_alive, self.http_version)

    def __eq__(self, other):
        if type(other) is not Request:
            return NotImplemented
        return self._fields() == (<Request>other)._fields()

    __hash__ = None  # mutable, like the twin's dataclass

    def __repr__(self):
        return ("Request(method={!r}, path={!r}, query={!r}, headers={!r}, body={!r}, "
                "peer_ip={!r}, tls={!r}, keep_alive={!r}, http_version={!r})").format(
                    *self._fields())


cdef Request new_request(str method, str path, str query, dict headers, bytes body,
                         str peer_ip, bint tls, bint keep_alive, str http_version):
    """A Request without the call of ``__init__``."""
    cdef Request request = Request.__new__(Request)
    request._set(method, path, query, headers, body, peer_ip, tls, keep_alive, http_version)
    return request
