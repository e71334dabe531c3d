# cython: language_level=3, boundscheck=False, wraparound=False
"""UUIDv7 generation and UUID text checks (compiled; twin: ids_py.py, which documents the layout).

Randomness comes from os.urandom, read 4 KiB at a time into a pool. A forked
child must not reuse its parent's pool (equal ids would follow), so the pool
is dropped whenever the process changes: a pthread_atfork child handler bumps
a fork count that the generator compares on every call. That is what watching
os.getpid() would do, without a system call per id.
"""

import os

from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

cdef extern from "pthread.h" nogil:
    int pthread_atfork(void (*prepare)(), void (*parent)(), void (*child)())

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)
    int PyUnicode_IS_ASCII(object text)
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL

cdef enum:
    POOL_SIZE = 4096
    DRAW = 10  # bytes per id: 62 random bits + an 11-bit counter start

cdef const char* HEX = b"0123456789abcdef"

# Process-wide by nature: how many forks led to this process (set in the child only).
cdef unsigned long _fork_count = 0


cdef void _after_fork_in_child() noexcept nogil:
    global _fork_count
    _fork_count += 1


if pthread_atfork(NULL, NULL, _after_fork_in_child) != 0:
    raise ImportError("pthread_atfork failed")


cdef class Uuid7Generator:
    """Hands out strictly increasing UUIDv7 text. Thread-safe under the GIL."""

    cdef uint64_t last_ms
    cdef unsigned int counter
    cdef unsigned long fork_count
    cdef Py_ssize_t pool_pos
    cdef unsigned char pool[POOL_SIZE]

    def __cinit__(self):
        self.fork_count = _fork_count
        self.pool_pos = POOL_SIZE

    cdef void _refill(self) except *:
        cdef bytes fresh = os.urandom(POOL_SIZE)
        memcpy(self.pool, <const char*>fresh, POOL_SIZE)
        self.pool_pos = 0

    cpdef str next(self):
        cdef timespec now
        clock_gettime(CLOCK_REALTIME, &now)
        return self.next_at(<uint64_t>now.tv_sec * 1000 + <uint64_t>now.tv_nsec // 1000000)

    cdef str next_at(self, uint64_t now_ms):
        """The next id, `now_ms` being the wall clock in milliseconds (read by
        a caller that needs the time anyway)."""
        if self.fork_count != _fork_count:
            self.fork_count = _fork_count
            self.pool_pos = POOL_SIZE
        # os.urandom may let another thread run; from the loop's end to the
        # return nothing touches Python, so the state update is atomic.
        while self.pool_pos + DRAW > POOL_SIZE:
            self._refill()
        cdef const unsigned char* draw = self.pool + self.pool_pos
        self.pool_pos += DRAW
        cdef unsigned int start = ((<unsigned int>draw[8] << 8) | draw[9]) >> 5
        cdef uint64_t random62 = 0
        cdef int i
        for i in range(8):
            random62 = (random62 << 8) | draw[i]
        random62 &= (<uint64_t>1 << 62) - 1

        if now_ms > self.last_ms:
            self.last_ms = now_ms
            self.counter = start
        elif self.counter < 0xFFF:
            self.counter += 1
        else:
            self.last_ms += 1
            self.counter = start

        cdef uint64_t high = (
            ((self.last_ms & <uint64_t>0xFFFFFFFFFFFF) << 16) | (<uint64_t>0x7 << 12) | self.counter
        )
        cdef uint64_t low = (<uint64_t>0b10 << 62) | random62
        return _format(high, low)


cdef str _format(uint64_t high, uint64_t low):
    cdef str text = PyUnicode_New(36, 127)
    cdef char* out = <char*>PyUnicode_DATA(text)
    cdef int pos = 35, nibble
    for nibble in range(16):
        if pos == 23:
            out[pos] = 45
            pos -= 1
        out[pos] = HEX[low & 0xF]
        low >>= 4
        pos -= 1
    for nibble in range(16):
        if pos == 18 or pos == 13 or pos == 8:
            out[pos] = 45
            pos -= 1
        out[pos] = HEX[high & 0xF]
        high >>= 4
        pos -= 1
    return text


# The one generator of this process: monotonicity is a per-process promise.
cdef Uuid7Generator _GENERATOR = Uuid7Generator()


def uuid7() -> str:
    """A new UUIDv7 as canonical lowercase text; increasing within this process."""
    return _GENERATOR.next()


cdef str uuid7_at(uint64_t now_ms):
    """uuid7() for a caller that read the wall clock already (`now_ms`)."""
    return _GENERATOR.next_at(now_ms)


def normalize_uuid(s) -> str | None:
    """Canonical lowercase text of a canonical UUID in any case, else None (see ids_py)."""
    cdef Py_ssize_t size
    cdef const char* raw
    if not isinstance(s, str) or len(<str>s) != 36 or not PyUnicode_IS_ASCII(s):
        return None
    raw = PyUnicode_AsUTF8AndSize(s, &size)
    cdef str text = PyUnicode_New(36, 127)
    if not uuid_to_lower(<const unsigned char*>raw, size, <char*>PyUnicode_DATA(text)):
        return None
    return text


def is_uuid(s) -> bool:
    """True when `normalize_uuid(s)` would accept s."""
    cdef Py_ssize_t size
    cdef const char* raw
    cdef char scratch[36]
    if not isinstance(s, str) or len(<str>s) != 36 or not PyUnicode_IS_ASCII(s):
        return False
    raw = PyUnicode_AsUTF8AndSize(s, &size)
    return uuid_to_lower(<const unsigned char*>raw, size, scratch)
