# The reader's fields, declared here so that the compiled connection
# (connection.pyx) reads its phase and flags and calls ``feed`` directly.

cdef class RequestReader:
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
    cdef bint _in_parser  # httptools holds the start of a message: it reads on
    # The header values of the last plain request, by position: a client sends
    # the same ones again (User-Agent, Accept-Language, Host...), and the text
    # already made is reused, its hash already computed.
    cdef list _recent_values

    cpdef feed(self, data)
    cdef _parser_failed(self, exc)
    cdef _reject(self, int status, str message)
    cdef _complete(self, str method, const char* raw, Py_ssize_t size, dict headers,
                   bytes body, bint keep_alive, str version)
    cdef Py_ssize_t _read_plain(self, bytes data) except -1
    cdef Py_ssize_t _plain_request(self, const char* buf, Py_ssize_t size) except -1
