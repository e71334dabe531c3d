# cython: language_level=3, boundscheck=False, wraparound=False
"""What every loop turn that takes events runs of the log append (compiled;
twin: ingestcore_py.py, whose docstring says what belongs here).

Compiled because the compiled single-event path calls it once per event, and
the turn's commit once per turn: at half load most turns hold one or two
requests, and these steps as Python cost more than the request itself
(docs/PERFORMANCE.md, session 8). A row is added to the open record with one
resize and one copy; the commit writes the record with its head, without a
copy (WalCore.append_if_room).
"""

import asyncio
import logging

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_Size
from cpython.object cimport PyObject
from libc.string cimport memcpy

from tracker._fast.walcore cimport RECORD_HEAD_SIZE, WalCore

log = logging.getLogger("tracker.routes.ingest")

cdef bytes _CLOSE = b"]"


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
    cdef public long long rejected_full  # rows refused at the quota
    # Pending bytes past which an append commits at once.
    cdef public Py_ssize_t commit_bytes
    cdef public bint _commit_scheduled
    cdef public WalCore _writer  # the WalWriter
    cdef object _loop  # the loop _commit_soon was last scheduled on

    def __init__(self, WalCore writer, Py_ssize_t commit_bytes):
        self._pending = {}
        self._pending_bytes = 0
        self._turn_limit = 0
        self.events_received = 0
        self.rejected_full = 0
        self.commit_bytes = commit_bytes
        self._commit_scheduled = False
        self._writer = writer
        self._loop = None

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

    cdef _append_slow(self, int table_id, long long count, bytes elements):
        """`append_encoded` when the row opens a record, or may need a commit or
        the quota's check first."""
        cdef PyObject* found = PyDict_GetItem(self._pending, table_id)
        # A "," before the elements; or a "[" and the head of a new record.
        cdef bint opening = found is NULL or not (<TablePending>found).merged
        cdef Py_ssize_t size = PyBytes_GET_SIZE(elements) + (2 + RECORD_HEAD_SIZE if opening
                                                             else 1)
        self._make_room(size)
        if not opening and not self._pending:  # _make_room committed the open record
            size = PyBytes_GET_SIZE(elements) + 2 + RECORD_HEAD_SIZE
            opening = True
        cdef TablePending pending = self._pending_for(table_id)
        pending.merged += b"[" if opening else b","
        pending.merged += elements
        pending.merged_rows += count
        self._pending_bytes += size
        self.events_received += count

    cpdef TablePending _pending_for(self, int table_id):
        cdef PyObject* found = PyDict_GetItem(self._pending, table_id)
        if found is not NULL:
            return <TablePending>found
        pending = TablePending()
        self._pending[table_id] = pending
        return pending

    cpdef _make_room(self, Py_ssize_t size):
        """Before `size` more pending bytes: commit when over commit_bytes; raise
        WalFullError when the log's quota cannot take them; make sure the rows
        are committed by the end of the turn."""
        if self._pending_bytes + size > self.commit_bytes and self._pending_bytes:
            self.commit()
        cdef long long room = self._writer.room()
        if self._pending_bytes + size > room:
            self.rejected_full += 1
            self._writer.check_room(self._pending_bytes + size)  # raises WalFullError
        if not self._commit_scheduled:
            # Normally the HTTP layer commits first; this makes sure rows never
            # wait for a later turn whatever happens to their answers.
            self._commit_scheduled = True
            loop = self._loop
            if loop is None or loop.is_closed():
                # Asked once per loop: asyncio asks the OS for the pid each time.
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._commit_soon)
        self._turn_limit = min(self.commit_bytes, room)

    cpdef commit(self):
        """Write the pending rows, one merged record per table and each large
        payload as its own, in one write.

        On failure (disk full, I/O error) the rows stay pending for the next
        commit and the error is raised: whatever acknowledges them must not be sent.
        """
        self._turn_limit = 0
        cdef dict pending = self._pending
        if not pending:
            return
        cdef Py_ssize_t position = 0
        cdef PyObject* key
        cdef PyObject* value
        cdef TablePending table
        if PyDict_Size(pending) == 1:
            # The common turn: one table's merged rows, one record.
            PyDict_Next(pending, &position, &key, &value)
            table = <TablePending>value
            if table.merged_rows and not table.large and self._writer.append_if_room(
                    <object>key, table.merged_rows, table.merged, _CLOSE):
                pending.clear()
                self._pending_bytes = 0
                return
        self._commit_general()

    def _commit_general(self):  # Ingestor's: several records, rolls, errors
        raise NotImplementedError

    def _commit_soon(self):
        self._commit_scheduled = False
        try:
            self.commit()
        except Exception:  # kept pending: the commit before the answers fails and logs
            log.debug("wal group append failed; the rows stay pending", exc_info=True)
