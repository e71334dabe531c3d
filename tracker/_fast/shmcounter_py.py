"""Daily counters in a shared file: the pure-Python twin of shmcounter.pyx, and the file layout.

Every worker process maps the same file (DataDirectory/run/ratelimit.shm) and
counts hits per (key, UTC day) in it, so a limit holds across all workers.
The compiled module updates the table lock-free with atomic compare-and-swap;
this twin does the same steps under fcntl.flock(LOCK_EX) (correct, slower).
Both produce the same bytes for the same sequence of hits. Processes must not
mix the two on one file (the twin's lock does not stop compiled writers).

Layout, little-endian, every field 8-byte aligned:

    header (64 bytes)
      0  magic     8 bytes  b"TRKRLIM1"
      8  version   u32      1
     12  slot_size u32      16
     16  capacity  u64      number of slots, a power of two
     24  day       u64      newest UTC day (days since 1970-01-01) any hit used
     32  full      u64      hits that found no free slot (allowed, not counted)
     40  reserved  24 bytes zero
    slots (capacity x 16 bytes)
      0  tag       u64      key48 << 16 | day & 0xFFFF; 0 = never used
      8  counter   u64      day << 32 | count  (bytes: count u32, then day u32)

A key is a 64-bit keyed hash of a client IP; its top 48 bits (1 when zero) are
the key48 stored in tags, so the file holds no IP. Slots are found by linear
probing from key48 & (capacity - 1), at most MAX_PROBES of them.

Why it is correct under concurrent processes:

- The tag holds the key *and* the day in one word, so claiming a slot is one
  CAS: from 0 or from a tag of an older day to (key48, today). A slot tagged
  for today is never reclaimed today, so during one day the table only gains
  entries, and treating older tags as empty is plain insert-only linear
  probing: a key's entry is always the first slot of its probe sequence that
  was free when its first hit of the day reached it, and every process
  probing for it walks the same occupied slots to the same place.
- The counter carries its own day, so nobody has to reset it after a claim:
  the first increment that sees an older day writes (today, 1). Every update
  is a CAS of the whole word, so increments are never lost.
- Days only move forward. A hit first joins the newest day in the header
  (raising it when its own day is newer). A hit that meets a newer day in a
  tag or a counter (another process crossed midnight meanwhile) starts again
  with that day, so it never overwrites a newer day's entry.
- Past the limit a hit does not write: counts stop at limit + 1.
- With no free slot within MAX_PROBES, the hit is allowed (fail open: a full
  table must not lock out everyone new) and the header's `full` is bumped.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from types import TracebackType

MAGIC = b"TRKRLIM1"
VERSION = 1
HEADER_SIZE = 64
SLOT_SIZE = 16
MAX_PROBES = 512
MAX_CAPACITY = 1 << 32
MAX_LIMIT = 0xFFFF_FFFE  # so that limit + 1 still fits the u32 count

_HEADER = struct.Struct("<8sIIQQQ")
_WORD = struct.Struct("<Q")
_DAY_OFFSET = 24
_FULL_OFFSET = 32
_U32 = 0xFFFF_FFFF


class CounterFileError(ValueError):
    """The file is not a usable counter file (foreign, corrupt, or another version)."""


def file_size(capacity: int) -> int:
    return HEADER_SIZE + capacity * SLOT_SIZE


def check_capacity(capacity: int) -> None:
    if not 1 <= capacity <= MAX_CAPACITY or capacity & (capacity - 1):
        raise ValueError(f"capacity must be a power of two up to 2**32, not {capacity}")


def header(capacity: int) -> bytes:
    """The header of a new, empty table (the slots are all zero bytes)."""
    check_capacity(capacity)
    return _HEADER.pack(MAGIC, VERSION, SLOT_SIZE, capacity, 0, 0).ljust(HEADER_SIZE, b"\0")


def read_capacity(fd: int, name: str) -> int:
    """Checks the header and size of an open counter file; returns its capacity."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, HEADER_SIZE, 0)
    if len(head) < HEADER_SIZE or head[:8] != MAGIC:
        raise CounterFileError(f"{name} is not a rate-limit counter file (bad magic)")
    _, version, slot_size, capacity, _, _ = _HEADER.unpack_from(head)
    if version != VERSION or slot_size != SLOT_SIZE:
        raise CounterFileError(
            f"{name} has format version {version} (slot size {slot_size}), "
            f"this tracker reads version {VERSION} (slot size {SLOT_SIZE})"
        )
    try:
        check_capacity(capacity)
    except ValueError:
        raise CounterFileError(f"{name} is corrupt: capacity {capacity}") from None
    if size != file_size(capacity):
        raise CounterFileError(
            f"{name} is corrupt: {size} bytes, expected {file_size(capacity)} "
            f"for {capacity} slots"
        )
    return capacity


def key48(key: int) -> int:
    if not 0 <= key < 1 << 64:
        raise OverflowError("key must be an unsigned 64-bit integer")
    return (key >> 16) or 1


def _newer_by(tag_day: int, day: int) -> int:
    """How many days the 16-bit day of a tag is ahead of `day` (negative: behind)."""
    diff = (tag_day - day) & 0xFFFF
    return diff - 0x10000 if diff >= 0x8000 else diff


class SharedCounter:
    """The table in an existing counter file (see tracker/ratelimit for creating one)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            self.capacity = read_capacity(self._fd, os.fspath(path))
            self._map = mmap.mmap(self._fd, file_size(self.capacity), mmap.MAP_SHARED)
        except BaseException:
            os.close(self._fd)
            raise
        self._probes = min(self.capacity, MAX_PROBES)

    @property
    def day(self) -> int:
        return _WORD.unpack_from(self._map, _DAY_OFFSET)[0]

    @property
    def full_count(self) -> int:
        return _WORD.unpack_from(self._map, _FULL_OFFSET)[0]

    def hit(self, key: int, day: int, limit: int) -> tuple[bool, int]:
        """Counts one hit of `key` on `day`: (count <= limit, count); count 0 = table full."""
        k48 = key48(key)
        if not (0 <= day <= _U32 and 0 <= limit <= _U32):
            raise OverflowError("day and limit must be unsigned 32-bit integers")
        if self._fd < 0:
            raise ValueError("the counter file is closed")
        limit = min(limit, MAX_LIMIT)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            return self._hit(k48, day, limit)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _hit(self, k48: int, day: int, limit: int) -> tuple[bool, int]:
        m = self._map
        while True:  # runs again only when a newer day shows up
            newest = self.day
            if day > newest:
                _WORD.pack_into(m, _DAY_OFFSET, day)
            day = max(day, newest)
            offset, ahead = self._find(k48, day)
            if ahead:
                day += ahead
                continue
            if offset < 0:
                _WORD.pack_into(m, _FULL_OFFSET, self.full_count + 1)
                return True, 0
            counter = _WORD.unpack_from(m, offset + 8)[0]
            counter_day, count = counter >> 32, counter & _U32
            if counter_day > day:
                day = counter_day
                continue
            if counter_day < day:
                count = 1
            elif count > limit:
                return False, count
            else:
                count += 1
            _WORD.pack_into(m, offset + 8, day << 32 | count)
            return count <= limit, count

    def _find(self, k48: int, day: int) -> tuple[int, int]:
        """(offset of the slot for (k48, day), claiming it if new, or -1 when full;
        days a newer tag met on the way is ahead, else 0)."""
        m = self._map
        mask = self.capacity - 1
        mine = k48 << 16 | (day & 0xFFFF)
        home = k48 & mask
        for probe in range(self._probes):
            offset = HEADER_SIZE + ((home + probe) & mask) * SLOT_SIZE
            tag = _WORD.unpack_from(m, offset)[0]
            if tag == mine:
                return offset, 0
            if tag:
                ahead = _newer_by(tag & 0xFFFF, day)
                if ahead > 0:
                    return -1, ahead
                if ahead == 0:  # today's entry of another key
                    continue
            _WORD.pack_into(m, offset, mine)  # empty or of a past day: ours now
            return offset, 0
        return -1, 0

    def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SharedCounter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
