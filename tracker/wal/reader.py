"""The tailing side of one worker's log: whole, checksummed records from a position on.

A short or bad record at the end of the newest segment means "not written yet":
`read` returns what it has and reads those bytes again next time (in a reused
file they may be an older segment's, which the writer is overwriting). In a
segment that has a successor the writer will never come back, so the rest is a
torn tail: skipped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tracker.wal.format import (
    HEADER_SIZE,
    BadHeaderError,
    CorruptRecordError,
    decode_record,
    needed_bytes,
    record_seed,
    unpack_header,
)
from tracker.wal.segments import (
    list_worker_dirs,
    retire_segments,
    segment_files,
    segment_name,
)

__all__ = [
    "Position",
    "Record",
    "WalReader",
    "list_worker_dirs",
    "retire_segments",
    "segment_files",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# Reads at the newest segment's end, while waiting for the writer: in a reused
# file there is always something to read there (old bytes), so read little.
_TAIL_CHUNK = 64 << 10


@dataclass(frozen=True, slots=True)
class Position:
    """A point in a worker's log. `events` counts the events before it.

    offset 0 means "start of the segment, header not read yet"; the reader
    normalizes it to the first record's offset.
    """

    segment: int
    offset: int
    events: int


@dataclass(slots=True)
class Record:
    table_id: int
    count: int
    payload: bytes
    end: Position  # the position just after this record


class WalReader:
    def __init__(self, directory: Path, start: Position | None) -> None:
        self.directory = Path(directory)
        self._fd = -1
        self._seq = start.segment if start else 0
        self._offset = start.offset if start else 0  # file offset of _buf[_bpos]
        self._events = start.events if start else 0
        self._buf = b""
        self._bpos = 0
        self._seed = 0  # record_seed of the current segment
        self._waiting = False  # at the end of the newest segment
        self._from_oldest = start is None  # until a first segment is opened

    @property
    def position(self) -> Position:
        return Position(self._seq, self._offset, self._events)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._forget_unread()

    def read(self, max_records: int = 10000, max_bytes: int = 8 << 20) -> list[Record]:
        """Return the next whole records (possibly none). Never blocks on the writer."""
        out: list[Record] = []
        self._scan(out, max_records, max_bytes, True)
        return out

    def read_chunk(
        self, max_records: int = 10000, max_bytes: int = 8 << 20
    ) -> list[tuple[int, bytes]]:
        """Like `read`, but only (table_id, payload) of each record: no Position per
        record. `position` is then the end of the last one."""
        out: list[tuple[int, bytes]] = []
        self._scan(out, max_records, max_bytes, False)
        return out

    def _scan(self, out: list, max_records: int, max_bytes: int, records: bool) -> None:
        if self._fd < 0 and not self._open_first():
            return
        size = 0
        while len(out) < max_records and size < max_bytes:
            try:
                rec = decode_record(self._buf, self._bpos, self._seed)
            except CorruptRecordError as exc:
                if self._leave_segment(f"corrupt record at offset {self._offset}: {exc}"):
                    continue
                self._wait_for_writer()
                break
            if rec is None:
                if self._fill() or self._leave_segment("torn tail"):
                    continue
                self._wait_for_writer()
                break
            self._waiting = False
            table_id, count, payload, end = rec
            self._offset += end - self._bpos
            self._bpos = end
            self._events += count
            size += len(payload)
            if records:
                end_at = Position(self._seq, self._offset, self._events)
                out.append(Record(table_id, count, payload, end_at))
            else:
                out.append((table_id, payload))

    # -- buffer ---------------------------------------------------------------

    def _forget_unread(self) -> None:
        """Drop the bytes buffered after the last whole record: the next read
        reads them from the file again."""
        self._buf = b""
        self._bpos = 0

    def _wait_for_writer(self) -> None:
        """At the end of the newest segment: what follows the last whole record is
        read again next time, as the writer may have written over it since."""
        self._forget_unread()
        self._waiting = True

    def _fill(self) -> bool:
        """Read the next chunk of the current segment; False when there is nothing new."""
        buf, bpos = self._buf, self._bpos
        want = max(_TAIL_CHUNK if self._waiting else _CHUNK, needed_bytes(buf, bpos))
        data = os.pread(self._fd, want, self._offset + len(buf) - bpos)
        if not data:
            return False
        self._buf = buf[bpos:] + data if bpos < len(buf) else data
        self._bpos = 0
        return True

    # -- segment changes ------------------------------------------------------------

    def _successor(self) -> int | None:
        for seq, _ in segment_files(self.directory):
            if seq > self._seq:
                return seq
        return None

    def _leave_segment(self, why: str) -> bool:
        """Move past the current segment if it has a successor; False to wait."""
        nxt = self._successor()
        if nxt is None:
            return False
        # The successor exists, so the writer is done with this segment: what
        # follows our last whole record is whole records, or a reused file's old
        # bytes, not written over, that the writer's chores thread cuts soon.
        # Read it again: the buffer may hold bytes read before the writer wrote
        # there (in a reused file, old ones).
        self._forget_unread()
        if self._fill():
            try:
                if decode_record(self._buf, self._bpos, self._seed) is not None:
                    return True
            except CorruptRecordError:
                pass
        skipped = max(0, os.fstat(self._fd).st_size - self._offset)
        if skipped and self._first_event_of(nxt) == self._events:
            # Every event before the successor was read: the rest is old bytes.
            log.debug("wal %s: %d old bytes after segment %d", self.directory, skipped, self._seq)
        elif skipped:
            log.warning(
                "wal %s: skipping %d bytes at the end of segment %d (%s)",
                self.directory,
                skipped,
                self._seq,
                why,
            )
        return self._open_from(nxt)

    def _first_event_of(self, seq: int) -> int | None:
        """The events before segment `seq`, from its header; None if unreadable."""
        try:
            fd = os.open(self.directory / segment_name(seq), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            return unpack_header(os.pread(fd, HEADER_SIZE, 0), seq).first_event
        except BadHeaderError:
            return None
        finally:
            os.close(fd)

    def _open_first(self) -> bool:
        """Open the segment of the current position, or the oldest one after it if gone."""
        if self._from_oldest:
            return self._open_from(0)
        pos = self.position
        if self._open_segment(pos.segment, self.directory / segment_name(pos.segment), pos):
            return True
        return self._open_from(pos.segment + 1, gap_check=True)

    def _open_from(self, first_seq: int, gap_check: bool = False) -> bool:
        """Open the first readable segment with seq >= first_seq; False if none yet."""
        for seq, path in segment_files(self.directory):
            if seq < first_seq:
                continue
            events_before = self._events
            if self._open_segment(seq, path, None):
                if gap_check and self._events > events_before:
                    log.warning(
                        "wal %s: start segment was retired; %d events skipped",
                        self.directory,
                        self._events - events_before,
                    )
                return True
        return False

    def _open_segment(self, seq: int, path: Path, start: Position | None) -> bool:
        """Make `path` the current segment, at `start` or at its first record."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            header = unpack_header(os.pread(fd, HEADER_SIZE, 0), seq)
        except BadHeaderError as exc:
            os.close(fd)
            log.warning("wal %s: unreadable segment header (%s)", path, exc)
            return False
        self.close()
        self._fd = fd
        self._seq = seq
        self._seed = record_seed(header.seq, header.version)
        self._waiting = False
        self._from_oldest = False
        if start is not None and start.offset >= HEADER_SIZE:
            self._offset, self._events = start.offset, start.events
        else:
            self._offset, self._events = HEADER_SIZE, header.first_event
        return True
