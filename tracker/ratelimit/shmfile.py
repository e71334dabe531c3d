"""Creating and opening the shared counter file (DataDirectory/run/ratelimit.shm).

Every worker maps the same file. A new file is written completely under a
temporary name and then linked into place, so a process sees either no file or
a whole one, and when several processes create it at once one link wins and
everybody maps that inode. Workers refuse a file that is not a valid counter
file; the supervisor, alone before the workers start, replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from tracker._fast import SharedCounter
from tracker._fast.shmcounter_py import check_capacity, file_size, header, read_capacity

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1 << 20  # slots: distinct client IPs per UTC day (16 MiB)


def open_counter_file(
    path: Path, capacity: int = DEFAULT_CAPACITY, counter_type: type = SharedCounter
) -> SharedCounter:
    """The counter table at path, created empty with `capacity` slots when missing.

    An existing valid file is used with its own capacity (all workers must
    share one table). Raises CounterFileError for a foreign or corrupt file.
    """
    check_capacity(capacity)
    if not path.exists():
        _write_new(path, capacity, replace=False)
    return counter_type(path)


def prepare_counter_file(path: Path, capacity: int = DEFAULT_CAPACITY) -> None:
    """Makes path a valid table of `capacity` slots; run once before the workers start.

    A valid file of that capacity is kept, so today's counts survive a
    restart. Anything else (foreign, corrupt, other version or capacity) is
    replaced by an empty table, with a warning saying why.
    """
    check_capacity(capacity)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        _write_new(path, capacity, replace=False)
        return
    try:
        found = read_capacity(fd, str(path))
        problem = None if found == capacity else f"{path} has {found} slots, not {capacity}"
    except ValueError as error:  # CounterFileError
        problem = str(error)
    finally:
        os.close(fd)
    if problem:
        log.warning("rate limit: %s; replacing it with an empty table", problem)
        _write_new(path, capacity, replace=True)


def _write_new(path: Path, capacity: int, *, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        # Zero bytes, every slot empty. Allocated now rather than sparse: a write fault on a
        # sparse page of a full disk would kill the worker with SIGBUS.
        os.posix_fallocate(fd, 0, file_size(capacity))
        os.pwrite(fd, header(capacity), 0)
        if replace:
            os.replace(temporary, path)
        else:
            # When another process published first, everybody uses its file.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):  # moved into place by os.replace
            os.unlink(temporary)
