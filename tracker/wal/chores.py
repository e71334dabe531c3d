"""The log's file work that may wait for the disk, on a thread of its own.

Freeing a file's blocks (unlink, ftruncate) can wait for the disk for tens of
milliseconds: on a file system mounted with `discard` the kernel sends the
device a discard of the freed blocks and waits for it, in the caller. Judging
whether a spare is still in the page cache reads it. Neither may happen on the
appending thread, the worker's event loop (docs/PERFORMANCE.md, "Session 9"),
so the writer hands them here:

- readying the file of the next segment: a spare, judged first and deleted
  if the page cache dropped it (writing over uncached blocks reads each one
  first), else a new file (creating one allocates an inode, which may read
  the inode table from the disk);
- cutting the old bytes a rolled segment still has after its last record;
- deleting a readied spare that waited SPARE_SECONDS unused (it holds
  delivered events, as any spare does).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tracker.wal.priority import lower_this_threads_priority
from tracker.wal.segments import SPARE_SECONDS, take_spare

log = logging.getLogger(__name__)

# A readied spare's name: .tmp, so that a crash leaves nothing the writer's
# recovery keeps (WalWriter.open deletes *.tmp), and numbered, so that the
# next one never takes the name of one the writer is renaming into place.
READY_PREFIX = "ready-"
READY_SUFFIX = ".tmp"

# Reads that in_page_cache makes to judge a spare: the page cache drops a
# file's cold pages in runs (the kernel's reclaim, or a host's), so a few
# spread over the file find them.
CACHE_SAMPLES = 16


class ReadyFile:
    """The next segment's file at `path`, open read-write as `fd`: a spare
    `size` bytes long, or a new file (size 0)."""

    __slots__ = ("fd", "path", "since", "size")

    def __init__(self, fd: int, path: Path, size: int) -> None:
        self.fd = fd
        self.path = path
        self.size = size
        self.since = time.monotonic()

    def delete(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


class FileChores:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._ready: ReadyFile | None = None
        self._names = itertools.count()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"wal-chores:{self.directory}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the queued chores, then delete a readied file nobody took."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._drop_ready(max_age=0.0, spare_only=False)

    def wait(self) -> None:
        """Return once the chores queued so far are done."""
        done = threading.Event()
        self._put(done.set)
        done.wait()

    # -- called from the appending thread ----------------------------------------

    def ready_soon(self) -> None:
        """Ready a file for the next segment, unless a spare is ready."""
        self._put(self.ready_next)

    def take_ready(self, new_only: bool = False) -> ReadyFile | None:
        """The readied file, now the caller's to rename and close; None if none
        (or, with `new_only`, if it is a spare: that one stays readied)."""
        with self._lock:
            ready = self._ready
            if ready is None or (new_only and ready.size > 0):
                return None
            self._ready = None
        return ready

    def cut_soon(self, fd: int, size: int) -> None:
        """ftruncate `fd` to `size`, then close it: `fd` is handed over."""
        self._put(lambda: self._cut(fd, size))

    # -- the chores -------------------------------------------------------------

    def ready_next(self) -> None:
        """Ready a spare the page cache still holds, else a new file."""
        with self._lock:
            ready = self._ready
        if ready is not None and ready.size > 0:
            return
        path = self.directory / f"{READY_PREFIX}{next(self._names)}{READY_SUFFIX}"
        while take_spare(self.directory, path):
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            size = os.fstat(fd).st_size
            if in_page_cache(fd, size):
                self._offer(ReadyFile(fd, path, size))
                return
            os.close(fd)
            os.unlink(path)  # the slow part this thread is for
        if ready is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            self._offer(ReadyFile(fd, path, 0))

    def _offer(self, ready: ReadyFile) -> None:
        """Make `ready` the readied file; a new file it replaces is deleted."""
        with self._lock:
            old, self._ready = self._ready, ready
        if old is not None:
            old.delete()

    def _cut(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def _drop_ready(self, max_age: float, spare_only: bool) -> None:
        """Delete the readied file if it waited `max_age` (a new one only if not
        `spare_only`)."""
        with self._lock:
            ready = self._ready
            if (ready is None or (spare_only and ready.size == 0)
                    or time.monotonic() - ready.since < max_age):
                return
            self._ready = None
        ready.delete()

    def _put(self, job: Callable[[], None]) -> None:
        if self._thread is None:  # not started, or stopped: do it here
            job()
        else:
            self._jobs.put(job)

    def _run(self) -> None:
        lower_this_threads_priority()
        while True:
            try:
                job = self._jobs.get(timeout=SPARE_SECONDS / 2)
            except queue.Empty:
                job = self.expire_ready
            if job is None:
                return
            try:
                job()
            except Exception:
                log.exception("wal %s: a file chore failed", self.directory)

    def expire_ready(self) -> None:
        """Delete the readied spare if it waited SPARE_SECONDS untaken (it holds
        delivered events; a new file holds nothing and stays)."""
        self._drop_ready(max_age=SPARE_SECONDS, spare_only=True)


def in_page_cache(fd: int, size: int) -> bool:
    """Whether the page cache holds the first `size` bytes of `fd` (opened for
    reading), judged by CACHE_SAMPLES one-byte reads spread over them that
    fail rather than wait for the disk (RWF_NOWAIT). Where the system cannot
    tell, True: a spare is used as before."""
    nowait = getattr(os, "RWF_NOWAIT", None)
    if nowait is None or size <= 0:
        return True
    probe = bytearray(1)
    for i in range(CACHE_SAMPLES):
        try:
            os.preadv(fd, [probe], size * i // CACHE_SAMPLES, nowait)
        except BlockingIOError:
            return False
        except OSError:  # EOPNOTSUPP: a file system without non-blocking reads
            return True
    return True
