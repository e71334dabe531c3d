"""Per-connection limits and timeouts of the HTTP layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one client from holding more than its share.

    Timeouts are in seconds. ``idle_timeout`` is the SPEC's ConnectionTimeout:
    it bounds a keep-alive connection waiting for its next request, the time to
    receive a request body once its headers arrived, and a client that stops
    reading our responses.
    """

    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384  # request line + all header lines
    max_url_bytes: int = 8_192
    header_timeout: float = 10.0  # from a request's first byte to its last header
    idle_timeout: float = 30.0
    max_connections: int = 10_000
    high_water: int = 65_536  # transport write buffer size that pauses writing
    max_pipelined: int = 32  # requests queued on one connection before reading pauses
