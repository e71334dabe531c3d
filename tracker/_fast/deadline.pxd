# Declared here so that the compiled connection (connection.pyx) pushes the
# deadline with a C call.

cdef class Deadline:
    cdef object _loop, _on_expire, _handle
    cdef double _when  # 0.0: no deadline
    cdef str _reason
    cdef double _handle_at

    cpdef set(self, double seconds, str reason)
    cpdef clear(self)
    cpdef cancel(self)
    cdef _arm(self, double when)
