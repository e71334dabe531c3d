"""The log's files on disk: naming, listing, validating (recovery scan) and retiring segments.

A retired segment is not always deleted: up to MAX_SPARES per directory are
renamed to spares (`<seq>.spare`), which the writer reuses for its next
segments, overwriting them in place. Writing over pages the page cache still
holds costs less kernel time than writing a new file, and an fdatasync after
it has no file size or block map to commit (docs/PERFORMANCE.md, "Session 5").
A spare holds delivered events, so it is deleted once it has waited
SPARE_SECONDS unused; spares are not segments and do not count towards the
log's quota.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tracker.wal.format import (
    HEADER_SIZE,
    CorruptRecordError,
    SegmentHeader,
    decode_record,
    needed_bytes,
    record_seed,
    unpack_header,
)

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".seg"
SPARE_SUFFIX = ".spare"
MAX_SPARES = 2
SPARE_SECONDS = 30.0
_SEGMENT_NAME = re.compile(r"^(\d{20})\.seg$")
_SPARE_NAME = re.compile(r"^\d{20}\.spare$")
_WORKER_DIR = re.compile(r"^w(\d+)$")
_SCAN_CHUNK = 1 << 20


def segment_name(seq: int) -> str:
    return f"{seq:020d}{SEGMENT_SUFFIX}"


def segment_files(directory: Path) -> list[tuple[int, Path]]:
    """(seq, path) of every segment in `directory`, oldest first; [] if it does not exist."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        m = _SEGMENT_NAME.match(name)
        if m:
            out.append((int(m.group(1)), Path(directory) / name))
    out.sort()
    return out


def list_worker_dirs(wal_root: Path) -> list[Path]:
    """The per-worker log directories `w<N>` under `wal_root`, by worker number."""
    try:
        entries = list(os.scandir(wal_root))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        m = _WORKER_DIR.match(entry.name)
        if m and entry.is_dir():
            found.append((int(m.group(1)), Path(entry.path)))
    found.sort()
    return [path for _, path in found]


def usage_bytes(directory: Path) -> int:
    """Total size of the segments in `directory`."""
    total = 0
    for _, path in segment_files(directory):
        with contextlib.suppress(FileNotFoundError):  # retired while we listed
            total += path.stat().st_size
    return total


def retire_segments(directory: Path, upto: int, max_spares: int = MAX_SPARES) -> int:
    """Retire segments with seq < `upto`, never the newest one: the first become
    spares while there are fewer than `max_spares`, the others are deleted.
    Returns the bytes taken out of the log."""
    segments = segment_files(directory)
    spares = len(spare_files(directory))
    freed = 0
    for seq, path in segments[:-1]:
        if seq >= upto:
            break
        try:
            size = path.stat().st_size
            if spares < max_spares:
                path.rename(path.with_suffix(SPARE_SUFFIX))
                spares += 1
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        freed += size
    return freed


def spare_files(directory: Path) -> list[Path]:
    """The spares in `directory`, newest retired first (their names are the seqs they held)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [Path(directory) / name for name in sorted(names, reverse=True)
            if _SPARE_NAME.match(name)]


def take_spare(directory: Path, target: Path) -> bool:
    """Rename a spare of `directory` to `target`; False when there is none."""
    for path in spare_files(directory):
        try:
            path.rename(target)
            return True
        except FileNotFoundError:  # expired meanwhile
            continue
    return False


def expire_spares(directory: Path, max_age: float | None = None,
                  now: float | None = None) -> int:
    """Delete the spares retired more than `max_age` (default SPARE_SECONDS)
    seconds ago: the rename into a spare sets its ctime. Returns how many."""
    max_age = SPARE_SECONDS if max_age is None else max_age
    now = time.time() if now is None else now
    deleted = 0
    for path in spare_files(directory):
        try:
            if now - path.stat().st_ctime > max_age:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What recovery learns from one segment."""

    header: SegmentHeader
    valid_end: int  # offset just past the last whole, valid record
    events: int  # sum of the counts of the valid records
    records: int
    file_size: int


def scan_segment(path: Path, seq: int | None = None) -> SegmentScan:
    """Validate every record of a segment, stopping at the first short or bad one
    (in a reused file, the first byte after the last record written to it).

    Raises BadHeaderError when the file does not start with a valid header (of
    segment `seq`, when given).
    """
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        file_size = os.fstat(fd).st_size
        header = unpack_header(os.pread(fd, HEADER_SIZE, 0), seq)
        seed = record_seed(header.seq, header.version)
        buf = b""
        pos = 0
        offset = HEADER_SIZE  # file offset of buf[pos]
        events = records = 0
        while True:
            try:
                rec = decode_record(buf, pos, seed)
            except CorruptRecordError as exc:
                log.warning("%s: corrupt record at offset %d: %s", path, offset, exc)
                break
            if rec is None:
                want = max(_SCAN_CHUNK, needed_bytes(buf, pos))
                data = os.pread(fd, want, offset + len(buf) - pos)
                if not data:
                    break
                buf = buf[pos:] + data
                pos = 0
                continue
            _, count, _, end = rec
            offset += end - pos
            pos = end
            events += count
            records += 1
    return SegmentScan(header, offset, events, records, file_size)
