"""The rate-limit key of a client IP: a keyed 64-bit hash, so the shared file holds no IP."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

# Keeps these keys unrelated to the other keyed hashes made with the same HashSecret.
_PERSON = b"trk-ratelimit"


def ip_key_hasher(secret: bytes) -> Callable[[str], int]:
    """A function from an IP text to a 64-bit key: blake2b keyed with a key derived from secret."""
    if not secret:
        raise ValueError("the rate-limit hash needs a non-empty secret")
    key = hashlib.blake2b(secret, digest_size=32, person=_PERSON).digest()

    def ip_key(ip: str) -> int:
        digest = hashlib.blake2b(ip.encode(), key=key, digest_size=8).digest()
        return int.from_bytes(digest, "little")

    return ip_key
