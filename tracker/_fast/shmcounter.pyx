# cython: language_level=3, boundscheck=False, wraparound=False
"""Daily counters in a shared file, lock-free (compiled; twin and layout: shmcounter_py.py).

Same steps as the twin, with each read-modify-write of a word done by a GCC
atomic compare-and-swap on the mapped file instead of under a file lock; the
twin's docstring explains why the scheme is correct between processes. A CAS
that loses a race looks at the same word again, so no hit is lost or counted
twice. All atomics are sequentially consistent: on x86-64 a CAS is a full
barrier anyway, and loads cost the same.
"""

import os
import sys

from libc.stdint cimport int16_t, uint16_t, uint64_t
from posix.mman cimport MAP_FAILED, MAP_SHARED, PROT_READ, PROT_WRITE, mmap, munmap

from tracker._fast.shmcounter_py import MAX_LIMIT, MAX_PROBES, file_size, read_capacity

if sys.byteorder != "little":
    raise ImportError("tracker._fast.shmcounter reads the little-endian layout natively")

cdef extern from *:
    """
    #include <stdint.h>
    static inline uint64_t shm_load(uint64_t *p) {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    static inline int shm_cas(uint64_t *p, uint64_t expected, uint64_t desired) {
        return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    static inline void shm_add(uint64_t *p, uint64_t n) {
        __atomic_add_fetch(p, n, __ATOMIC_SEQ_CST);
    }
    """
    uint64_t shm_load(uint64_t *p) nogil
    bint shm_cas(uint64_t *p, uint64_t expected, uint64_t desired) nogil
    void shm_add(uint64_t *p, uint64_t n) nogil

# Positions in 64-bit words (the layout is in shmcounter_py.py).
cdef enum:
    DAY_WORD = 3
    FULL_WORD = 4
    SLOTS_WORD = 8

cdef uint64_t U32 = 0xFFFFFFFF
cdef unsigned int LIMIT_CAP = MAX_LIMIT


cdef bint _hit(uint64_t* base, uint64_t mask, uint64_t probes, uint64_t k48, uint64_t day,
               uint64_t limit, uint64_t* count) noexcept nogil:
    cdef uint64_t newest, mine, home, tag, counter, counter_day, n, p
    cdef uint64_t* slot
    cdef uint64_t* candidate
    cdef int16_t ahead
    while True:  # runs again only when a newer day shows up
        newest = shm_load(&base[DAY_WORD])
        while day > newest and not shm_cas(&base[DAY_WORD], newest, day):
            newest = shm_load(&base[DAY_WORD])
        if newest > day:
            day = newest

        mine = k48 << 16 | (day & 0xFFFF)
        home = k48 & mask
        slot = NULL
        ahead = 0
        p = 0
        while p < probes:
            candidate = base + SLOTS_WORD + 2 * ((home + p) & mask)
            tag = shm_load(candidate)
            if tag == mine:
                slot = candidate
                break
            if tag != 0:
                ahead = <int16_t><uint16_t>((tag & 0xFFFF) - (day & 0xFFFF))
                if ahead > 0:
                    break
                if ahead == 0:  # today's entry of another key
                    p += 1
                    continue
            if shm_cas(candidate, tag, mine):  # empty or of a past day: ours now
                slot = candidate
                break
            # Lost the slot to another process: look at it again.
        if ahead > 0:
            day += ahead
            continue
        if slot == NULL:
            shm_add(&base[FULL_WORD], 1)
            count[0] = 0
            return True

        while True:
            counter = shm_load(slot + 1)
            counter_day = counter >> 32
            n = counter & U32
            if counter_day > day:
                break
            if counter_day < day:
                n = 1
            elif n > limit:
                count[0] = n
                return False
            else:
                n += 1
            if shm_cas(slot + 1, counter, day << 32 | n):
                count[0] = n
                return n <= limit
        day = counter_day


cdef class SharedCounter:
    """The table in an existing counter file (see tracker/ratelimit for creating one)."""

    cdef uint64_t* base
    cdef size_t size
    cdef uint64_t mask
    cdef uint64_t probes
    cdef readonly object capacity

    def __cinit__(self, path):
        cdef void* address
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            capacity = read_capacity(fd, os.fspath(path))
            self.size = file_size(capacity)
            address = mmap(NULL, self.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if address == MAP_FAILED:
                raise OSError(f"cannot map {os.fspath(path)}")
        finally:
            os.close(fd)  # the mapping keeps the file
        self.base = <uint64_t*>address
        self.capacity = capacity
        self.mask = capacity - 1
        self.probes = min(capacity, MAX_PROBES)

    def __dealloc__(self):
        if self.base != NULL:
            munmap(self.base, self.size)

    @property
    def day(self):
        self._check_open()
        return shm_load(&self.base[DAY_WORD])

    @property
    def full_count(self):
        self._check_open()
        return shm_load(&self.base[FULL_WORD])

    cdef int _check_open(self) except -1:
        if self.base == NULL:
            raise ValueError("the counter file is closed")
        return 0

    def hit(self, uint64_t key, unsigned int day, unsigned int limit):
        """Counts one hit of `key` on `day`: (count <= limit, count); count 0 = table full."""
        cdef uint64_t count = 0
        cdef uint64_t k48 = key >> 16
        self._check_open()
        if k48 == 0:
            k48 = 1
        if limit > LIMIT_CAP:
            limit = LIMIT_CAP
        allowed = _hit(self.base, self.mask, self.probes, k48, day, limit, &count)
        return allowed, count

    def close(self):
        if self.base != NULL:
            munmap(self.base, self.size)
            self.base = NULL

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close()
