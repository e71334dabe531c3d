"""Creating, opening and replacing the shared rate-limit file."""

from __future__ import annotations

import logging
import multiprocessing
import os
import struct

import pytest

from tracker._fast.shmcounter_py import HEADER_SIZE, MAGIC, header
from tracker.ratelimit import CounterFileError, open_counter_file, prepare_counter_file

DAY = 20_000


def test_a_missing_file_is_created_whole(tmp_path):
    path = tmp_path / "run" / "ratelimit.shm"
    with open_counter_file(path, 1 << 10) as table:
        assert table.capacity == 1 << 10
        assert table.hit(1 << 20, DAY, 5) == (True, 1)
    assert path.stat().st_size == HEADER_SIZE + 16 * 1024
    assert path.read_bytes()[:8] == MAGIC
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(path.parent) == ["ratelimit.shm"]  # no temporary file left


def test_an_existing_file_keeps_its_counts_and_capacity(tmp_path):
    path = tmp_path / "ratelimit.shm"
    with open_counter_file(path, 64) as table:
        table.hit(1 << 20, DAY, 5)
    with open_counter_file(path, 1 << 20) as table:  # another capacity asked: the file wins
        assert table.capacity == 64
        assert table.hit(1 << 20, DAY, 5) == (True, 2)


def _open_and_hit(path: str, start, out) -> None:
    from pathlib import Path

    start.wait()
    with open_counter_file(Path(path), 1 << 12) as table:
        out.put((os.stat(path).st_ino, table.hit(1 << 20, DAY, 100)[1]))


def test_processes_starting_at_once_share_one_file(tmp_path):
    path = tmp_path / "run" / "ratelimit.shm"
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_open_and_hit, args=(str(path), start, out))
                 for _ in range(4)]
    for process in processes:
        process.start()
    results = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert {inode for inode, _ in results} == {path.stat().st_ino}
    assert sorted(count for _, count in results) == [1, 2, 3, 4]  # one table, every hit in it
    assert os.listdir(path.parent) == ["ratelimit.shm"]


def test_workers_refuse_a_foreign_file_and_the_supervisor_replaces_it(tmp_path, caplog):
    path = tmp_path / "ratelimit.shm"
    path.write_bytes(b"something else entirely" * 100)
    with pytest.raises(CounterFileError, match="not a rate-limit counter file"):
        open_counter_file(path, 64)
    with caplog.at_level(logging.WARNING, logger="tracker.ratelimit.shmfile"):
        prepare_counter_file(path, 64)
    assert "(bad magic); replacing it with an empty table" in caplog.text
    with open_counter_file(path, 64) as table:
        assert table.hit(1 << 20, DAY, 5) == (True, 1)


def test_prepare_replaces_a_truncated_file_or_another_capacity(tmp_path, caplog):
    path = tmp_path / "ratelimit.shm"
    path.write_bytes(header(64) + bytes(10))
    with pytest.raises(CounterFileError, match="corrupt"):
        open_counter_file(path, 64)
    with caplog.at_level(logging.WARNING):
        prepare_counter_file(path, 64)
        prepare_counter_file(path, 128)
    assert "corrupt" in caplog.text
    assert "has 64 slots, not 128" in caplog.text
    with open_counter_file(path, 128) as table:
        assert table.capacity == 128


def test_prepare_keeps_a_valid_file_so_counts_survive_a_restart(tmp_path, caplog):
    path = tmp_path / "ratelimit.shm"
    prepare_counter_file(path, 64)  # creates it
    with open_counter_file(path, 64) as table:
        table.hit(1 << 20, DAY, 5)
    with caplog.at_level(logging.WARNING):
        prepare_counter_file(path, 64)
    assert caplog.text == ""
    with open_counter_file(path, 64) as table:
        assert table.hit(1 << 20, DAY, 5) == (True, 2)
    assert struct.unpack_from("<Q", path.read_bytes(), 24) == (DAY,)
