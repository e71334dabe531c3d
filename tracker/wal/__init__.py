"""The write-ahead log: record framing, writer with fsync policies and quota, reader,
recovery and segment retirement. Format: docs/ARCHITECTURE.md, "The log"."""

from tracker.wal.format import (
    HEADER_SIZE,
    MAX_PAYLOAD_BYTES,
    CorruptRecordError,
    SegmentHeader,
    decode_record,
    encode_record,
)
from tracker.wal.reader import Position, Record, WalReader
from tracker.wal.segments import list_worker_dirs, retire_segments, segment_files
from tracker.wal.syncer import Syncer
from tracker.wal.writer import FSYNC_POLICIES, WalFullError, WalWriter

__all__ = [
    "FSYNC_POLICIES",
    "HEADER_SIZE",
    "MAX_PAYLOAD_BYTES",
    "CorruptRecordError",
    "Position",
    "Record",
    "SegmentHeader",
    "Syncer",
    "WalFullError",
    "WalReader",
    "WalWriter",
    "decode_record",
    "encode_record",
    "list_worker_dirs",
    "retire_segments",
    "segment_files",
]
