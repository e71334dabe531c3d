# Declared here so that the compiled reader (httpreader.pyx) builds requests
# with `new_request` and the compiled connection reads their fields directly.

cdef class Request:
    cdef public str method, path, query
    cdef public dict headers
    cdef public bytes body
    cdef public str peer_ip
    cdef public bint tls, keep_alive
    cdef public str http_version
    cdef public object _cookies  # parsed on first use of cookie()

    cdef void _set(self, str method, str path, str query, dict headers, bytes body,
                   str peer_ip, bint tls, bint keep_alive, str http_version)
    cdef tuple _fields(self)


cdef Request new_request(str method, str path, str query, dict headers, bytes body,
                         str peer_ip, bint tls, bint keep_alive, str http_version)
