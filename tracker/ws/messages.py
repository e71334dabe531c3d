"""A complete WebSocket message → event candidates (SPEC 3.1).

Text: the JSON itself. Binary: a 4-byte little-endian uncompressed length,
then one raw LZ4 block (``lz4.block``, ``store_size=False``) of the JSON. The
declared length is checked against the limit before anything is allocated for
it. The accepted JSON shapes are those of an HTTP body (``parse_events``).
"""

from __future__ import annotations

from typing import Any

import lz4.block

from tracker.routes.body import BodyError, parse_events
from tracker.ws.frames import CloseCode, CloseError

_LENGTH_BYTES = 4


def max_binary_wire_bytes(max_bytes: int) -> int:
    """Largest binary message payload that can decompress to ``max_bytes``.

    LZ4's worst case (incompressible input) grows by 1/255 plus 16 bytes
    (LZ4_COMPRESSBOUND); anything larger on the wire is refused from the
    frame header.
    """
    return _LENGTH_BYTES + max_bytes + max_bytes // 255 + 16


def decode_message(data: bytes, binary: bool, max_bytes: int) -> tuple[list[Any], bool]:
    """(items, is_batch) as ``parse_events`` returns them, or ``CloseError``.

    1009 when the JSON is (or declares to be) over ``max_bytes`` or holds too
    many events; 1007 for bad LZ4 data, bad JSON or a shape that is not an
    object, an array or {"batch": [...]}.
    """
    if binary:
        data = decompress(data, max_bytes)
    elif len(data) > max_bytes:
        raise CloseError(CloseCode.TOO_BIG, f"message is over {max_bytes} bytes")
    try:
        return parse_events(data)
    except BodyError as exc:
        code = CloseCode.TOO_BIG if exc.status == 413 else CloseCode.INVALID_DATA
        raise CloseError(code, exc.message.replace("the body", "the message")) from None


def decompress(data: bytes, max_bytes: int) -> bytes:
    """The JSON of a binary message; never allocates more than ``max_bytes``."""
    if len(data) < _LENGTH_BYTES:
        raise CloseError(CloseCode.INVALID_DATA,
                         "a binary message starts with its 4-byte uncompressed length")
    declared = int.from_bytes(data[:_LENGTH_BYTES], "little")
    if declared > max_bytes:
        raise CloseError(CloseCode.TOO_BIG,
                         f"message declares {declared} bytes, over {max_bytes}")
    if declared == 0:
        raise CloseError(CloseCode.INVALID_DATA, "the message is empty")
    try:
        # The destination buffer is `declared` bytes: LZ4 cannot write past it.
        out = lz4.block.decompress(memoryview(data)[_LENGTH_BYTES:], uncompressed_size=declared)
    except lz4.block.LZ4BlockError:
        raise CloseError(CloseCode.INVALID_DATA, "the message is not a valid LZ4 block") from None
    if len(out) != declared:
        raise CloseError(CloseCode.INVALID_DATA,
                         f"message declares {declared} bytes but holds {len(out)}")
    return out
