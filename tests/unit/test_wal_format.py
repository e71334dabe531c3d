import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.wal.format import (
    HEADER_SIZE,
    MAGIC,
    MAX_PAYLOAD_BYTES,
    RECORD_HEAD_SIZE,
    VERSION,
    BadHeaderError,
    CorruptRecordError,
    decode_record,
    encode_record,
    pack_header,
    record_seed,
    unpack_header,
)


def test_header_layout_and_round_trip():
    data = pack_header(worker=3, seq=42, first_event=1 << 40)
    assert len(data) == HEADER_SIZE == 32
    assert data[:8] == MAGIC == b"TRKWAL01"
    assert struct.unpack("<IIQQ", data[8:]) == (VERSION, 3, 42, 1 << 40) == (2, 3, 42, 1 << 40)
    header = unpack_header(data)
    assert (header.worker, header.seq, header.first_event, header.version) == (3, 42, 1 << 40, 2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        pack_header(0, 1, 0)[:31],
        b"XXXXXXXX" + pack_header(0, 1, 0)[8:],
        MAGIC + struct.pack("<IIQQ", 3, 0, 1, 0),
    ],
    ids=["empty", "short", "magic", "version"],
)
def test_bad_headers_are_rejected(data):
    with pytest.raises(BadHeaderError):
        unpack_header(data)


def test_record_layout_matches_the_documented_format():
    payload = b'[{"eid":"x"}]'
    rec = encode_record(2, 7, payload)
    body = struct.pack("<BI", 2, 7) + payload
    assert rec == struct.pack("<II", len(body), zlib.crc32(body)) + body
    assert len(rec) == RECORD_HEAD_SIZE + len(payload)


def test_round_trip_of_consecutive_records():
    records = [(1, 1, b"[1]"), (2, 3, b""), (255, 2**32 - 1, bytes(range(256)) * 10)]
    buf = b"".join(encode_record(*r) for r in records)
    pos = 0
    decoded = []
    while pos < len(buf):
        table_id, count, payload, pos = decode_record(buf, pos)
        decoded.append((table_id, count, payload))
    assert decoded == records
    assert pos == len(buf)


def test_every_strict_prefix_is_incomplete():
    rec = encode_record(1, 1, b'[{"a":1}]')
    for cut in range(len(rec)):
        assert decode_record(b"junk" + rec[:cut], 4) is None
    assert decode_record(b"junk" + rec, 4)[3] == 4 + len(rec)


def test_any_flipped_bit_after_the_length_is_detected():
    rec = encode_record(1, 4, b'[{"a":1},{"b":2}]')
    for i in range(4, len(rec)):
        damaged = bytearray(rec)
        damaged[i] ^= 0x10
        with pytest.raises(CorruptRecordError):
            decode_record(bytes(damaged), 0)


@pytest.mark.parametrize("length", [0, 4, MAX_PAYLOAD_BYTES + 6, 2**32 - 1])
def test_impossible_lengths_are_corrupt_not_incomplete(length):
    buf = struct.pack("<II", length, 0) + b"\x00" * 20
    with pytest.raises(CorruptRecordError):
        decode_record(buf, 0)


def test_oversized_payload_is_refused():
    with pytest.raises(ValueError):
        encode_record(1, 1, b"\x00" * (MAX_PAYLOAD_BYTES + 1))


def test_version_1_segments_are_still_read_with_unseeded_checksums():
    header = unpack_header(pack_header(0, 9, 0, version=1))
    assert header.version == 1
    assert record_seed(header.seq, header.version) == 0
    rec = encode_record(1, 1, b"[1]")  # seed 0: version 1's framing
    assert rec[4:8] == struct.pack("<I", zlib.crc32(rec[8:]))
    assert decode_record(rec, 0) == (1, 1, b"[1]", len(rec))


@given(payload=st.binary(max_size=300), table_id=st.integers(0, 255),
       count=st.integers(0, 2**32 - 1),
       seqs=st.lists(st.integers(1, 2**40), min_size=2, max_size=2, unique=True))
def test_a_record_of_another_segment_never_passes(payload, table_id, count, seqs):
    """The bytes a reused file still holds: whole records of older segments. Under
    the new segment's seed their checksum fails, whatever they hold (for seqs
    that differ mod 2**32, as any two of one directory's do in practice)."""
    old, new = (record_seed(seq) for seq in seqs)
    if old == new:
        return
    rec = encode_record(table_id, count, payload, old)
    assert decode_record(rec, 0, old) == (table_id, count, payload, len(rec))
    with pytest.raises(CorruptRecordError):
        decode_record(rec, 0, new)
