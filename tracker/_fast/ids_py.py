"""Pure-Python twin of `ids.pyx`: UUIDv7 generation and UUID text checks.

UUIDv7 layout (RFC 9562): 48-bit Unix milliseconds, version 7, 12 bits `rand_a`
used as a counter within one millisecond, variant 0b10, 62 random bits.
Within one process the ids are strictly increasing: a new millisecond starts
the counter at a random value below 2048 (room to count up); when the counter
would pass 4095, or the clock goes backwards, the timestamp borrows the next
millisecond instead.
"""

from __future__ import annotations

import os
import re
import threading
import time

_CANONICAL = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_RANDOM_62 = (1 << 62) - 1


class Uuid7Generator:
    """Hands out strictly increasing UUIDv7 text. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def next(self) -> str:
        entropy = int.from_bytes(os.urandom(10), "big")  # 62 random bits + 11-bit counter start
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = entropy >> 69
            elif self._counter < 0xFFF:
                self._counter += 1
            else:
                self._last_ms += 1
                self._counter = entropy >> 69
            ms, counter = self._last_ms, self._counter
        value = (
            (ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76
            | counter << 64
            | 0b10 << 62
            | (entropy & _RANDOM_62)
        )
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# The one generator of this process: monotonicity is a per-process promise.
_GENERATOR = Uuid7Generator()


def uuid7() -> str:
    """A new UUIDv7 as canonical lowercase text; increasing within this process."""
    return _GENERATOR.next()


def normalize_uuid(s: str) -> str | None:
    """Canonical lowercase text of a canonical 8-4-4-4-12 UUID in any case, else None.

    Any version and variant is accepted; braces, `urn:uuid:` and hex without
    dashes are not. A value that is not a str gives None.
    """
    if not isinstance(s, str) or len(s) != 36 or _CANONICAL.fullmatch(s) is None:
        return None
    return s.lower()


def is_uuid(s: str) -> bool:
    """True when `normalize_uuid(s)` would accept s."""
    return normalize_uuid(s) is not None
