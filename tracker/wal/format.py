"""The bytes of the log: segment header and record framing (docs/ARCHITECTURE.md, "The log").

Segment header (32 bytes): magic `TRKWAL01`, u32 version, u32 worker, u64 seq,
u64 first_event. Record: u32 length, u32 crc32, u8 table_id, u32 count, payload,
where `length` and `crc32` cover table_id + count + payload. Little-endian.

Version 2 seeds each record's crc32 with its segment's seq (`record_seed`).
Segment files are reused (segments.py, "spares"), so the bytes after a
segment's last record may be an older segment's records: under another seed
their checksums fail, and they read as "not written yet", never as events.
Version 1 segments (seed 0) are still read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"TRKWAL01"
VERSION = 2
READABLE_VERSIONS = (1, 2)

_HEADER = struct.Struct("<8sIIQQ")
HEADER_SIZE = _HEADER.size  # 32

# length, crc32, table_id, count
_RECORD_HEAD = struct.Struct("<IIBI")
_LENGTH_CRC = struct.Struct("<II")
_KIND_COUNT = struct.Struct("<BI")
RECORD_HEAD_SIZE = _RECORD_HEAD.size  # 13
_FRAMED = _LENGTH_CRC.size  # bytes before the checksummed part
_KIND_COUNT_SIZE = _KIND_COUNT.size  # 5

# A corrupt length field must never make a reader allocate gigabytes.
MAX_PAYLOAD_BYTES = 64 << 20
MAX_RECORD_BYTES = RECORD_HEAD_SIZE + MAX_PAYLOAD_BYTES

_crc32 = zlib.crc32


class CorruptRecordError(ValueError):
    """The bytes at this offset are complete but are not a valid record."""


class BadHeaderError(ValueError):
    """A segment file does not start with a valid header."""


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    worker: int
    seq: int
    first_event: int
    version: int = VERSION


def pack_header(worker: int, seq: int, first_event: int, version: int = VERSION) -> bytes:
    return _HEADER.pack(MAGIC, version, worker, seq, first_event)


def unpack_header(data: bytes, seq: int | None = None) -> SegmentHeader:
    """Parse the first HEADER_SIZE bytes of a segment; BadHeaderError if they are
    not one, or not the header of segment `seq` when it is given (a reused
    file whose new header never reached the disk still holds its old one)."""
    if len(data) < HEADER_SIZE:
        raise BadHeaderError(f"short header ({len(data)} bytes)")
    magic, version, worker, header_seq, first_event = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BadHeaderError(f"bad magic {magic!r}")
    if version not in READABLE_VERSIONS:
        raise BadHeaderError(f"unsupported version {version}")
    if seq is not None and header_seq != seq:
        raise BadHeaderError(f"the header of segment {header_seq}, not {seq}")
    return SegmentHeader(worker=worker, seq=header_seq, first_event=first_event, version=version)


def record_seed(seq: int, version: int = VERSION) -> int:
    """The crc32 seed of the records of segment `seq`: the seq (mod 2**32) from
    version 2 on. Distinct seeds give distinct checksums for the same bytes, so a
    whole record of another segment never passes."""
    return seq & 0xFFFFFFFF if version >= 2 else 0


def encode_record(table_id: int, count: int, payload: bytes, seed: int = 0) -> bytes:
    """Frame one record. Raises ValueError for a payload above MAX_PAYLOAD_BYTES."""
    return record_head(table_id, count, payload, seed) + payload


def record_head(table_id: int, count: int, payload: bytes, seed: int = 0) -> bytes:
    """The bytes that go before `payload` in its record (written apart, no copy of
    the payload); `seed` is the segment's `record_seed`. Raises ValueError for a
    payload above MAX_PAYLOAD_BYTES."""
    size = len(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"record payload of {size} bytes exceeds {MAX_PAYLOAD_BYTES}")
    crc = _crc32(payload, _crc32(_KIND_COUNT.pack(table_id, count), seed))
    return _RECORD_HEAD.pack(size + _KIND_COUNT_SIZE, crc, table_id, count)


def decode_record(buf: bytes, pos: int, seed: int = 0) -> tuple[int, int, bytes, int] | None:
    """Decode the record starting at `buf[pos]`, checksummed with `seed` (record_seed).

    Returns (table_id, count, payload, end) where `end` is the offset in `buf`
    just past the record, or None when `buf` holds only part of it. Raises
    CorruptRecordError when the length is impossible or the checksum is wrong.
    """
    avail = len(buf) - pos
    if avail < RECORD_HEAD_SIZE:
        return None
    length, crc = _LENGTH_CRC.unpack_from(buf, pos)
    if length < _KIND_COUNT_SIZE or length > MAX_PAYLOAD_BYTES + _KIND_COUNT_SIZE:
        raise CorruptRecordError(f"impossible record length {length}")
    end = pos + _FRAMED + length
    if end > len(buf):
        return None
    kc_start = pos + _FRAMED
    payload = buf[kc_start + _KIND_COUNT_SIZE : end]
    # Checksum the 5 kind/count bytes, then continue over the payload we copy anyway.
    if _crc32(payload, _crc32(buf[kc_start : kc_start + _KIND_COUNT_SIZE], seed)) != crc:
        raise CorruptRecordError("checksum mismatch")
    table_id, count = _KIND_COUNT.unpack_from(buf, kc_start)
    return table_id, count, payload, end


def needed_bytes(buf: bytes, pos: int) -> int:
    """How many bytes from `pos` the record there needs (at least its head)."""
    if len(buf) - pos < _FRAMED:
        return RECORD_HEAD_SIZE
    (length,) = struct.unpack_from("<I", buf, pos)
    return _FRAMED + min(max(length, _KIND_COUNT_SIZE), MAX_PAYLOAD_BYTES + _KIND_COUNT_SIZE)
