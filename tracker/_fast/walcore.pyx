# cython: language_level=3, boundscheck=False, wraparound=False
"""The log append of one loop turn's merged record (compiled; twin:
walcore_py.py).

``WalCore`` is the base class of ``tracker.wal.writer.WalWriter``: it holds
the writer's position and counters in C fields, so that the turn's commit
(``IngestCore.commit``) can frame and write its one record without a Python
frame. Only the common case is here: the record fits in the current segment
and the quota. Rolls, errors, short writes and several records are
``WalWriter._write_records``'s.

The framing is format.py's (u32 length, u32 crc32 seeded with the segment's
seq, u8 table_id, u32 count, payload; little-endian); walcore.pxd holds its
sizes, and tests/unit/test_fast_walcore.py checks the bytes against
``format.encode_record``. (This module cannot import tracker.wal: that package
imports the writer, which imports this.)
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from posix.uio cimport iovec, pwritev


cdef extern from "zlib.h":
    unsigned long crc32(unsigned long crc, const unsigned char* buf, unsigned int size) nogil



cdef inline void _put_u32(unsigned char* out, unsigned long value) noexcept nogil:
    out[0] = value & 0xFF
    out[1] = (value >> 8) & 0xFF
    out[2] = (value >> 16) & 0xFF
    out[3] = (value >> 24) & 0xFF


cdef class WalCore:
    def __cinit__(self, *args, **kwargs):
        # Here, not in __init__: a subclass's fields are right before its
        # __init__ runs.
        self._fd = -1
        self._seq = 0
        self._seg_size = 0
        self.segment_bytes = 0
        self.quota_bytes = 0
        self._bytes_on_disk = 0
        self._appended_events = 0
        self._dirty = False

    cpdef long long room(self):
        """How many bytes appends made later may add: what the quota leaves,
        less the header of a new segment they may start."""
        return self.quota_bytes - self._bytes_on_disk - HEADER_SIZE

    cpdef bint append_if_room(self, int table_id, long long count, bytearray body,
                              bytes tail) except -1:
        """Append one record of `count` rows whose payload is `body` + `tail`,
        with one pwritev of its head, `body` and `tail` (no copy), when it fits
        in the current segment and the quota: True. False, with nothing counted,
        when it needs a roll, is over the quota, or the write failed or was
        short: the caller then goes the general way (WalWriter.append), which
        writes from the same offset and handles all of those."""
        cdef Py_ssize_t body_size = PyByteArray_GET_SIZE(body)
        cdef Py_ssize_t tail_size = PyBytes_GET_SIZE(tail)
        cdef Py_ssize_t payload = body_size + tail_size
        cdef Py_ssize_t size = RECORD_HEAD_SIZE + payload
        cdef long long offset = self._seg_size
        cdef int fd = self._fd
        if fd < 0 or payload > MAX_PAYLOAD_BYTES or not 0 <= table_id <= 255 \
                or not 0 <= count <= 0xFFFFFFFF:
            return False
        if offset + size > self.segment_bytes and offset > HEADER_SIZE:
            return False  # a roll first
        if self._bytes_on_disk + size > self.quota_bytes:
            return False
        cdef unsigned char head[RECORD_HEAD_SIZE]
        cdef const unsigned char* body_bytes = <const unsigned char*>PyByteArray_AS_STRING(body)
        cdef const unsigned char* tail_bytes = <const unsigned char*>PyBytes_AS_STRING(tail)
        cdef iovec parts[3]
        cdef Py_ssize_t written
        head[8] = <unsigned char>table_id
        _put_u32(head + 9, <unsigned long>count)
        # The seed names the segment (format.record_seed, version 2).
        cdef unsigned long crc = crc32(self._seq & 0xFFFFFFFF, head + 8, KIND_COUNT_SIZE)
        crc = crc32(crc, body_bytes, <unsigned int>body_size)
        crc = crc32(crc, tail_bytes, <unsigned int>tail_size)
        _put_u32(head, <unsigned long>(payload + KIND_COUNT_SIZE))
        _put_u32(head + 4, crc)
        parts[0].iov_base = head
        parts[0].iov_len = RECORD_HEAD_SIZE
        parts[1].iov_base = <void*>body_bytes
        parts[1].iov_len = body_size
        parts[2].iov_base = <void*>tail_bytes
        parts[2].iov_len = tail_size
        with nogil:
            written = pwritev(fd, parts, 3, offset)
        if written != size:
            return False
        self._seg_size = offset + size
        self._bytes_on_disk += size
        self._appended_events += count
        self._dirty = True
        return True
