# cython: language_level=3
"""One movable deadline per connection, cheap to push forward (compiled; twin:
deadline_py.py, which says how it works)."""

# A timer that fires this close to its deadline counts as expired, so a loop
# clock with millisecond resolution cannot make us re-arm in a tight circle.
cdef double _SLACK = 0.001


cdef class Deadline:
    """Calls ``on_expire(reason)`` once the current deadline passes."""

    def __init__(self, loop, on_expire):
        self._loop = loop
        self._on_expire = on_expire
        self._when = 0.0
        self._reason = ""
        self._handle = None
        self._handle_at = 0.0

    @property
    def reason(self):
        """Why the current deadline was set; "" when none is."""
        return self._reason if self._when else ""

    cpdef set(self, double seconds, str reason):
        cdef double when = self._loop.time() + seconds
        self._when = when
        self._reason = reason
        handle = self._handle
        if handle is None or self._handle_at > when:
            if handle is not None:
                handle.cancel()
            self._arm(when)

    cpdef clear(self):
        # The armed timer stays; when it fires it finds nothing to do.
        self._when = 0.0

    cpdef cancel(self):
        self._when = 0.0
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    cdef _arm(self, double when):
        self._handle_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self):
        self._handle = None
        cdef double when = self._when
        if not when:
            return
        if when - self._loop.time() > _SLACK:
            self._arm(when)
            return
        self._when = 0.0
        self._on_expire(self._reason)
