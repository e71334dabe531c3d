# format.py's sizes (this module cannot import tracker.wal: see walcore.pyx).
cdef enum:
    HEADER_SIZE = 32
    RECORD_HEAD_SIZE = 13
    KIND_COUNT_SIZE = 5
    MAX_PAYLOAD_BYTES = 64 << 20


cdef class WalCore:
    cdef public int _fd
    cdef public long long _seq
    cdef public long long _seg_size
    cdef public long long segment_bytes
    cdef public long long quota_bytes
    cdef public long long _bytes_on_disk
    cdef public long long _appended_events
    cdef public bint _dirty

    cpdef long long room(self)
    cpdef bint append_if_room(self, int table_id, long long count, bytearray body,
                              bytes tail) except -1
