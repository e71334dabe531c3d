# cython: language_level=3, boundscheck=False, wraparound=False
"""The part of the log append that every single event runs (compiled; twin:
ingestcore_py.py, whose docstring says what belongs here).

Compiled because the compiled single-event path calls it once per event: as
Python it was the last frame of the request path. The row is added to the
open record with one resize and one copy.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.string cimport memcpy


cdef class TablePending:
    """One table's rows of this turn: the small payloads' rows already spliced
    into one JSON array (open: its "]" is added at commit), the large payloads
    apart."""

    cdef public bytearray merged
    cdef public long long merged_rows
    cdef public list large  # [(rows, payload)]

    def __init__(self):
        self.merged = bytearray()
        self.merged_rows = 0
        self.large = []


cdef class IngestCore:
    cdef public dict _pending  # table_id -> what this turn appended to it, not yet written
    cdef public Py_ssize_t _pending_bytes  # the size of the records commit() would write
    # Pending bytes this turn's appends may reach without a commit or a quota
    # check: set by _make_room from the log's room at that time, 0 once a
    # commit runs (the room is asked again at the next append).
    cdef public Py_ssize_t _turn_limit
    cdef public long long events_received

    def __init__(self):
        self._pending = {}
        self._pending_bytes = 0
        self._turn_limit = 0
        self.events_received = 0

    cpdef append_encoded(self, int table_id, long long count, bytes elements):
        """Add `count` rows, already JSON array elements joined by commas, to
        the turn's merged record of `table_id`. Only for a grouped log (fsync
        not "always"); raises WalFullError."""
        cdef PyObject* found = PyDict_GetItem(self._pending, table_id)
        cdef TablePending pending
        cdef bytearray merged
        cdef Py_ssize_t size, old
        if found is not NULL:
            pending = <TablePending>found
            merged = pending.merged
            old = PyByteArray_GET_SIZE(merged)
            size = PyBytes_GET_SIZE(elements) + 1
            if old and self._pending_bytes + size <= self._turn_limit:
                # The common case: one more row for the open record, within
                # the room _make_room found earlier in this turn.
                PyByteArray_Resize(merged, old + size)
                PyByteArray_AS_STRING(merged)[old] = 44  # ","
                memcpy(PyByteArray_AS_STRING(merged) + old + 1, PyBytes_AS_STRING(elements),
                       size - 1)
                pending.merged_rows += count
                self._pending_bytes += size
                self.events_received += count
                return
        self._append_slow(table_id, count, elements)
