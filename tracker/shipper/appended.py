"""How many events each worker has appended to its log, read from the log itself.

Only the newest segment of a directory is scanned: its header's `first_event`
counts everything before it, and its whole records are counted incrementally
as the file grows. Each refresh reads only the bytes appended since the last.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from tracker.wal import list_worker_dirs, segment_files
from tracker.wal.format import (
    HEADER_SIZE,
    BadHeaderError,
    CorruptRecordError,
    decode_record,
    needed_bytes,
    record_seed,
    unpack_header,
)

_CHUNK = 1 << 20


@dataclass
class _Scan:
    seq: int
    offset: int  # file offset just past the last counted record
    events: int  # events appended before `offset`
    seed: int  # record_seed of the segment


class AppendedCounter:
    """Thread-safe: refreshed by one thread, read by any."""

    def __init__(self, wal_root: Path) -> None:
        self.wal_root = Path(wal_root)
        self._scans: dict[str, _Scan] = {}
        self._lock = threading.Lock()

    def refresh(self) -> dict[str, int]:
        """Scan what was appended since the last call; appended events by directory name."""
        with self._lock:
            for directory in list_worker_dirs(self.wal_root):
                self._refresh_dir(directory)
            return {name: s.events for name, s in self._scans.items()}

    def current(self) -> dict[str, int]:
        """The counts as of the last refresh."""
        with self._lock:
            return {name: s.events for name, s in self._scans.items()}

    def _refresh_dir(self, directory: Path) -> None:
        segments = segment_files(directory)
        if not segments:
            return
        seq, path = segments[-1]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            scan = self._scans.get(directory.name)
            if scan is None or scan.seq != seq:
                try:
                    header = unpack_header(os.pread(fd, HEADER_SIZE, 0))
                except BadHeaderError:
                    return  # being created; its header lands with its first write
                scan = _Scan(seq, HEADER_SIZE, header.first_event,
                             record_seed(header.seq, header.version))
                self._scans[directory.name] = scan
            _count_records(fd, scan)
        finally:
            os.close(fd)


def _count_records(fd: int, scan: _Scan) -> None:
    """Advance `scan` over the whole records after its offset."""
    buf = b""
    pos = 0
    while True:
        try:
            rec = decode_record(buf, pos, scan.seed)
        except CorruptRecordError:
            # Not written yet (old bytes of a reused file), or a torn tail the
            # writer leaves behind after recovery: counted when valid, if ever.
            return
        if rec is None:
            data = os.pread(fd, max(_CHUNK, needed_bytes(buf, pos)), scan.offset + len(buf) - pos)
            if not data:
                return
            buf = buf[pos:] + data
            pos = 0
            continue
        _, count, _, end = rec
        scan.offset += end - pos
        scan.events += count
        pos = end
