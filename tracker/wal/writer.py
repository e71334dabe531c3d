"""The append side of one worker's log: recovery on open, framed appends, rolls, quota.

One writer per directory, driven by one thread (the worker's event loop). Only
`sync` may run on another thread (the Syncer's executor); the lock guards the
descriptor it syncs against a roll closing it.

A new segment reuses a spare file when the shipper left one (segments.py) and
the chores thread readied it (chores.py): records are written at explicit
offsets over the old bytes. The old bytes after the last record are cut off
when the segment is closed, soon after it is rolled (by the chores thread:
freeing blocks may wait for the disk), or, when it has been open
STALE_TAIL_SECONDS, by rolling to a new file (`trim_stale_tail`). Until then
the records' seeded checksums (format.py) keep them from being read.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tracker._fast import WalCore
from tracker.atomicfile import fsync_directory
from tracker.wal.chores import FileChores
from tracker.wal.format import (
    HEADER_SIZE,
    RECORD_HEAD_SIZE,
    BadHeaderError,
    pack_header,
    record_head,
    record_seed,
)
from tracker.wal.segments import (
    SPARE_SECONDS,
    scan_segment,
    segment_files,
    segment_name,
    usage_bytes,
)

log = logging.getLogger(__name__)
# Buffers one writev may take (Linux: 1024); more go through one joined write.
_IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 16
# Buffers smaller than this on average are joined and written with write():
# copying a few hundred bytes costs less than writev's buffer list (0.15 us for
# one small record). Large payloads (batches) go by writev, not copied.
_JOIN_BELOW_MEAN_BYTES = 2048

FSYNC_POLICIES = ("always", "interval", "never")
_TMP_SUFFIX = ".tmp"
_BAD_SUFFIX = ".bad"
# A reused file's old bytes after the records live at most this long (they are
# delivered events): see trim_stale_tail.
STALE_TAIL_SECONDS = SPARE_SECONDS


class WalFullError(Exception):
    """The log reached its disk quota (or the disk is full); nothing was written."""


class WalWriter(WalCore):
    """The position, the counters and the common append of a turn's merged
    record are WalCore's (tracker/_fast/walcore.pyx); the rest is here."""

    def __init__(
        self,
        directory: Path,
        worker: int,
        fsync: str,
        segment_bytes: int = 64 << 20,
        quota_bytes: int = 10 << 30,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        super().__init__()  # the position and the counters (WalCore's), at 0
        self.directory = Path(directory)
        self.worker = worker
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.quota_bytes = quota_bytes
        # Size of the reused file the current segment overwrites (0: a new file),
        # and when it started (time.monotonic()).
        self._stale_end = 0
        self._started = 0.0
        self._lock = threading.Lock()
        self._syncs_running = 0
        self._retired_fds: list[int] = []  # closed once no sync uses them
        # Rolled segments whose last writes the next sync() makes durable: the
        # roll does not wait for the disk on the appending (event loop) thread.
        self._unsynced_fds: list[int] = []
        # A roll renamed a new segment into the directory since the last sync:
        # the next sync makes its entry (and, with its fd, its header) durable.
        self._unsynced_directory = False
        self._chores = FileChores(self.directory)

    # -- properties -----------------------------------------------------

    @property
    def appended_events(self) -> int:
        """Cumulative count of events in this directory, including recovered ones."""
        return self._appended_events

    @property
    def bytes_on_disk(self) -> int:
        return self._bytes_on_disk

    @property
    def current_segment(self) -> int:
        return self._seq

    @property
    def dirty(self) -> bool:
        """True when bytes were written since the last sync."""
        return self._dirty

    # -- lifecycle --------------------------------------------------------

    def open(self) -> None:
        """Recover the newest segment, then start a fresh one after it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in os.listdir(self.directory):
            if name.endswith(_TMP_SUFFIX):  # a segment whose creation never finished
                os.unlink(self.directory / name)
        last_seq, appended = self._recover()
        self._appended_events = appended
        self._bytes_on_disk = usage_bytes(self.directory)
        self._start_segment(last_seq + 1, sync_now=True)
        self._chores.start()
        self._chores.ready_soon()

    def _recover(self) -> tuple[int, int]:
        """Truncate the newest segment after its last valid record.

        Returns (highest seq seen, cumulative events at the end of the log).
        """
        segments = segment_files(self.directory)
        highest = segments[-1][0] if segments else 0
        while segments:
            seq, path = segments.pop()
            try:
                scan = scan_segment(path, seq)
            except BadHeaderError as exc:
                # The newest segment of a crash right after a roll (the roll
                # leaves the header's and the entry's sync to the next sync,
                # and its records were not durable yet), or damage: keep the
                # file aside for a human.
                log.warning("wal %s: %s; renamed to %s%s", path, exc, path.name, _BAD_SUFFIX)
                path.rename(path.with_name(path.name + _BAD_SUFFIX))
                continue
            if scan.valid_end < scan.file_size:
                log.warning(
                    "wal %s: truncating %d bytes of torn tail after %d valid records",
                    path,
                    scan.file_size - scan.valid_end,
                    scan.records,
                )
                with open(path, "r+b", buffering=0) as f:
                    os.ftruncate(f.fileno(), scan.valid_end)
                    if self.fsync != "never":
                        os.fdatasync(f.fileno())
            return highest, scan.header.first_event + scan.events
        return highest, 0

    def _start_segment(self, seq: int, sync_now: bool, reuse: bool = True) -> None:
        """Create segment `seq` with its header and make it the current one: in
        the file the chores thread readied, if any (a spare only if `reuse`),
        else in a new file created here.

        The header is written to a temporary name that is renamed into place,
        so a listed segment starts with a whole header. With `sync_now` (at
        open) the header and the entry are synced here; a roll leaves them to
        the next sync(), off the appending thread: a crash before it can leave
        this segment without its header, and recovery then sets it aside, but
        none of its records had been made durable either. The old segment's
        old bytes, if it was a spare, are cut by the chores thread.
        """
        final = self.directory / segment_name(seq)
        ready = self._chores.take_ready(new_only=not reuse)
        if ready is not None:
            fd, tmp, stale_end = ready.fd, ready.path, ready.size
        else:
            tmp = final.with_name(final.name + _TMP_SUFFIX)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            stale_end = 0
        try:
            self._write_fully(fd, pack_header(self.worker, seq, self._appended_events), 0)
            if sync_now and self.fsync != "never":
                os.fdatasync(fd)
            os.rename(tmp, final)
            if sync_now and self.fsync != "never":
                fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        if self._has_old_bytes():
            # The old segment ends at its last record once this is done: the
            # reader does not report the bytes after it (reader._leave_segment).
            self._chores.cut_soon(os.dup(self._fd), self._seg_size)
        with self._lock:
            old_fd, self._fd = self._fd, fd
            self._seq = seq
            self._seg_size = HEADER_SIZE
            self._stale_end = stale_end
            self._started = time.monotonic()
            if not sync_now:
                self._unsynced_directory = True
            if old_fd >= 0:
                if self._dirty and self.fsync != "never":
                    # Waiters of the Syncer may wait for records in the old
                    # segment: the next sync covers it, then closes it.
                    self._unsynced_fds.append(old_fd)
                elif self._syncs_running:
                    self._retired_fds.append(old_fd)
                else:
                    os.close(old_fd)
            if not sync_now:
                self._dirty = True  # its header
        self._bytes_on_disk += HEADER_SIZE

    def _roll(self, reuse: bool = True) -> None:
        # The old segment's unsynced writes stay dirty (self._dirty):
        # _start_segment hands it to the next sync, its old bytes to the chores.
        self._start_segment(self._seq + 1, sync_now=False, reuse=reuse)
        self._chores.ready_soon()

    def close(self) -> None:
        """Sync (unless fsync is "never") and close the current segment."""
        if self._fd < 0:
            return
        self._chores.stop()
        self._cut_stale_tail()
        if self.fsync != "never":
            self._dirty = False
            for old in self._take_unsynced():
                os.fdatasync(old)
                self._retire(old)
            os.fdatasync(self._fd)
            if self._unsynced_directory:
                self._unsynced_directory = False
                fsync_directory(self.directory)
        with self._lock:
            fd, self._fd = self._fd, -1
        self._retire(fd)

    # -- appends ------------------------------------------------------------

    def append(self, table_id: int, count: int, payload: bytes) -> None:
        """Append one record with one write. WalFullError if over quota (nothing written)."""
        self._write_records(((table_id, count, payload),), count)

    def append_many(self, records: list[tuple[int, int, bytes]]) -> None:
        """Append several records with one write (all or none land in the same segment)."""
        if records:
            self._write_records(records, sum([c for _, c, _ in records]))

    def has_room(self, size: int) -> bool:
        """Whether `size` more bytes, and the header of a new segment should they
        start one, fit in the quota (for appends made later)."""
        return size <= self.room()

    def check_room(self, size: int) -> None:
        """WalFullError unless has_room(size)."""
        if not self.has_room(size):
            raise WalFullError(
                f"wal quota of {self.quota_bytes} bytes reached ({self._bytes_on_disk} used)"
            )

    def _write_records(self, records: Sequence[tuple[int, int, bytes]], count: int) -> None:
        """Frame `records` for the segment they land in and write them with one
        pwritev after the last record: payloads are not copied into one buffer."""
        size = RECORD_HEAD_SIZE * len(records) + sum([len(r[2]) for r in records])
        must_roll = self._seg_size + size > self.segment_bytes and self._seg_size > HEADER_SIZE
        extra = HEADER_SIZE if must_roll else 0
        if self._bytes_on_disk + size + extra > self.quota_bytes:
            raise WalFullError(
                f"wal quota of {self.quota_bytes} bytes reached ({self._bytes_on_disk} used)"
            )
        if must_roll:
            self._roll()
        seed = record_seed(self._seq)  # the checksums name the segment they are in
        parts = []
        for table_id, records_count, payload in records:
            parts += (record_head(table_id, records_count, payload, seed), payload)
        fd = self._fd
        offset = self._seg_size
        try:
            # One call on the hot path; the rest is rare (IOV_MAX, short writes).
            if size < _JOIN_BELOW_MEAN_BYTES * len(parts):
                written = os.pwrite(fd, b"".join(parts), offset)
            else:
                written = os.pwritev(fd, parts, offset) if len(parts) <= _IOV_MAX else 0
            if written != size:
                self._write_fully(fd, memoryview(b"".join(parts))[written:], offset + written)
        except OSError as exc:
            # Never leave a partial record for a reader to wait on.
            try:
                os.ftruncate(fd, offset)
                self._stale_end = 0
            except OSError:
                log.exception("wal: cannot truncate a failed write in %s", self._seq)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise WalFullError(f"disk full: {exc}") from exc
            raise
        self._seg_size = offset + size
        self._bytes_on_disk += size
        self._appended_events += count
        self._dirty = True

    @staticmethod
    def _write_fully(fd: int, data: memoryview | bytes, offset: int) -> None:
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], offset + written)

    # -- reused files ------------------------------------------------------------

    def ready_next_file_soon(self) -> None:
        """Have the chores thread ready the next segment's file (a spare the
        shipper left since the last roll, else a new file), as it does after
        each roll."""
        self._chores.ready_soon()

    def wait_for_chores(self) -> None:
        """Return once the file chores handed over so far are done."""
        self._chores.wait()

    def trim_stale_tail(self) -> None:
        """Roll to a new file once the current segment, a reused one, has been
        open STALE_TAIL_SECONDS: at a low rate a segment stays open for long, and
        its old bytes are delivered events that should not outlive their spare.
        The roll hands them to the chores thread to cut: cutting the current
        segment there would race the appends. Call from the appending thread
        (the worker's loop) now and then."""
        if self._has_old_bytes() and time.monotonic() - self._started > STALE_TAIL_SECONDS:
            self._roll(reuse=False)

    def _has_old_bytes(self) -> bool:
        """Whether the current segment, a reused file, still has old bytes after its records."""
        return self._fd >= 0 and self._stale_end > self._seg_size

    def _cut_stale_tail(self) -> None:
        if self._has_old_bytes():
            os.ftruncate(self._fd, self._seg_size)
        self._stale_end = 0

    # -- durability and usage -------------------------------------------------

    def sync(self) -> None:
        """fdatasync the current segment if anything was written since the last sync.

        Safe to call from another thread than the one appending.
        """
        with self._lock:
            if not self._dirty or self._fd < 0:
                return
            # Clear before syncing: a write that marks dirty after this point is
            # left for the next sync; one that marked it before is covered.
            self._dirty = False
            fd = self._fd
            rolled, self._unsynced_fds = self._unsynced_fds, []
            directory, self._unsynced_directory = self._unsynced_directory, False
            self._syncs_running += 1
        try:
            while rolled:  # segments rolled since the last sync: older records first
                os.fdatasync(rolled[0])
                self._retire(rolled.pop(0))
            os.fdatasync(fd)
            if directory:  # the entries of the segments rolled to
                fsync_directory(self.directory)
        except BaseException:
            with self._lock:
                self._dirty = True
                self._unsynced_fds[:0] = rolled  # still to be synced, in order
                self._unsynced_directory = self._unsynced_directory or directory
            raise
        finally:
            with self._lock:
                self._syncs_running -= 1
                if not self._syncs_running:
                    for old in self._retired_fds:
                        os.close(old)
                    self._retired_fds.clear()

    def _take_unsynced(self) -> list[int]:
        with self._lock:
            rolled, self._unsynced_fds = self._unsynced_fds, []
        return rolled

    def _retire(self, fd: int) -> None:
        """Close `fd` now, or once no running sync may still use it."""
        with self._lock:
            if self._syncs_running:
                self._retired_fds.append(fd)
            else:
                os.close(fd)

    def refresh_usage(self) -> None:
        """Recount bytes on disk from the directory (the shipper retires segments)."""
        self._bytes_on_disk = usage_bytes(self.directory)
