"""SharedCounter, compiled and twin: daily counts in a shared file, exact across processes."""

from __future__ import annotations

import importlib
import multiprocessing
import random
import struct
from pathlib import Path

import pytest

from tracker._fast import shmcounter_py
from tracker._fast.shmcounter_py import (
    HEADER_SIZE,
    MAGIC,
    SLOT_SIZE,
    CounterFileError,
    file_size,
    header,
)

DAY = 20_000  # 2024-10-04


def _module(which: str):
    if which == "twin":
        return shmcounter_py
    try:
        return importlib.import_module("tracker._fast.shmcounter")
    except ImportError:
        pytest.skip("tracker._fast.shmcounter is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def which(request) -> str:
    _module(request.param)
    return request.param


def new_file(path: Path, capacity: int) -> Path:
    path.write_bytes(header(capacity) + bytes(capacity * SLOT_SIZE))
    return path


def open_table(which: str, path: Path):
    return _module(which).SharedCounter(path)


def key(n: int) -> int:
    """A key whose key48 is n (the table uses the top 48 bits of a key)."""
    return n << 16


def test_exactly_limit_hits_are_allowed_then_the_count_stops(tmp_path, which):
    with open_table(which, new_file(tmp_path / "t.shm", 64)) as table:
        got = [table.hit(key(7), DAY, 3) for _ in range(6)]
        assert got == [(True, 1), (True, 2), (True, 3), (False, 4), (False, 4), (False, 4)]
        assert table.hit(key(8), DAY, 3) == (True, 1)  # another key counts on its own


def test_a_new_day_starts_again_and_an_older_day_joins_the_newest(tmp_path, which):
    with open_table(which, new_file(tmp_path / "t.shm", 64)) as table:
        for _ in range(3):
            table.hit(key(7), DAY, 2)
        assert table.hit(key(7), DAY + 1, 2) == (True, 1)
        assert table.day == DAY + 1
        # A late hit stamped with yesterday counts for the newest day: days never go back.
        assert table.hit(key(7), DAY, 2) == (True, 2)
        assert table.hit(key(7), DAY, 2) == (False, 3)


def test_the_layout_of_one_hit(tmp_path, which):
    path = new_file(tmp_path / "t.shm", 16)
    with open_table(which, path) as table:
        table.hit(0xABCDEF_123456_0000 | 0xFFFF, DAY, 10)  # the low 16 bits are not used
        table.hit(0xABCDEF_123456_0000, DAY, 10)
    data = path.read_bytes()
    assert data[:8] == MAGIC
    assert struct.unpack_from("<IIQQQ", data, 8) == (1, SLOT_SIZE, 16, DAY, 0)
    k48 = 0xABCDEF_123456
    expected = bytearray(header(16) + bytes(16 * SLOT_SIZE))
    struct.pack_into("<Q", expected, 24, DAY)
    struct.pack_into("<QII", expected, HEADER_SIZE + (k48 & 15) * SLOT_SIZE,
                     k48 << 16 | DAY & 0xFFFF, 2, DAY)  # tag; count, day
    assert data == bytes(expected)


def test_keys_below_2_16_all_share_key48_one(tmp_path, which):
    with open_table(which, new_file(tmp_path / "t.shm", 8)) as table:
        assert table.hit(0, DAY, 5) == (True, 1)
        assert table.hit(0xFFFF, DAY, 5) == (True, 2)
        assert table.hit(key(1), DAY, 5) == (True, 3)


def test_a_full_table_fails_open_and_counts_it(tmp_path, which):
    with open_table(which, new_file(tmp_path / "t.shm", 4)) as table:
        for n in range(1, 5):
            assert table.hit(key(n), DAY, 1) == (True, 1)
        assert table.hit(key(99), DAY, 1) == (True, 0)  # no slot: allowed, not counted
        assert table.hit(key(99), DAY, 1) == (True, 0)
        assert table.full_count == 2
        assert table.hit(key(2), DAY, 1) == (False, 2)  # known keys still limited
        # The next day every slot is free again.
        assert table.hit(key(99), DAY + 1, 1) == (True, 1)
        assert table.hit(key(99), DAY + 1, 1) == (False, 2)
        assert table.full_count == 2


def test_slots_of_past_days_are_reused_without_losing_todays(tmp_path, which):
    with open_table(which, new_file(tmp_path / "t.shm", 2)) as table:
        table.hit(key(1), DAY, 5)
        table.hit(key(2), DAY, 5)
        assert table.hit(key(3), DAY + 1, 5) == (True, 1)  # takes a slot of yesterday
        assert table.hit(key(1), DAY + 1, 5) == (True, 1)  # a fresh count, not yesterday's
        assert table.hit(key(3), DAY + 1, 5) == (True, 2)
        assert table.hit(key(4), DAY + 1, 5) == (True, 0)
        assert table.full_count == 1


def test_compiled_and_twin_write_the_same_bytes(tmp_path):
    compiled = _module("compiled")
    rng = random.Random(4)
    hits = []
    day = DAY
    for _ in range(3000):
        day += rng.random() < 0.003
        late = rng.random() < 0.01
        hits.append((rng.choice([rng.getrandbits(64), key(rng.randrange(40))]),
                     day - late, rng.choice([1, 3, 50])))
    paths = []
    for module in (compiled, shmcounter_py):
        path = new_file(tmp_path / f"{module.__name__}.shm", 32)
        with module.SharedCounter(path) as table:
            answers = [table.hit(*hit) for hit in hits]
        paths.append((path, answers))
    (compiled_path, compiled_answers), (twin_path, twin_answers) = paths
    assert compiled_answers == twin_answers
    assert compiled_path.read_bytes() == twin_path.read_bytes()
    assert any(count == 0 for _, count in twin_answers)  # the table did fill up
    assert any(not allowed for allowed, _ in twin_answers)


def test_bad_arguments_are_refused_alike(tmp_path, which):
    table = open_table(which, new_file(tmp_path / "t.shm", 8))
    for bad in [(-1, DAY, 1), (1 << 64, DAY, 1), (1, -1, 1), (1, 1 << 32, 1), (1, DAY, -1)]:
        with pytest.raises(OverflowError):
            table.hit(*bad)
    table.close()
    with pytest.raises(ValueError, match="closed"):
        table.hit(1, DAY, 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"NOTMINE!" + data[8:], "bad magic"),
        (lambda data: data[:8] + struct.pack("<I", 9) + data[12:], "version 9"),
        (lambda data: data[:-16], "corrupt"),
        (lambda data: data[:16] + struct.pack("<Q", 3) + data[24:], "corrupt: capacity 3"),
        (lambda data: b"", "bad magic"),
    ],
)
def test_a_foreign_or_damaged_file_is_refused(tmp_path, which, damage, message):
    path = tmp_path / "t.shm"
    path.write_bytes(damage(header(4) + bytes(4 * SLOT_SIZE)))
    with pytest.raises(CounterFileError, match=message) as raised:
        open_table(which, path)
    assert str(path) in str(raised.value)


# -- several processes on one file ---------------------------------------------------------

def _hammer(which: str, path: str, keys: list[int], days: list[int], limit: int, start, out):
    module = shmcounter_py if which == "twin" else importlib.import_module(
        "tracker._fast.shmcounter")
    table = module.SharedCounter(path)
    start.wait()
    allowed = 0
    for day in days:
        for k in keys:
            allowed += table.hit(k, day, limit)[0]
    out.put(allowed)


def _run_processes(which: str, path: Path, keys: list[int], rounds: int, limit: int,
                   days: list[int] | None = None) -> int:
    """Four processes, each hitting every key once per round (round i on days[i])."""
    days = days or [DAY] * rounds
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_hammer, args=(which, str(path), keys, days, limit, start, out))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    total = sum(out.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return total


def test_four_processes_on_one_ip_get_exactly_the_limit(tmp_path, which):
    path = new_file(tmp_path / "t.shm", 1024)
    # Enough hits that the processes overlap: without the lock the twin gets ~70000 here.
    allowed = _run_processes(which, path, [key(42)], rounds=20_000, limit=60_000)
    assert allowed == 60_000
    with open_table(which, path) as table:
        assert table.hit(key(42), DAY, 60_000) == (False, 60_001)


def test_four_processes_on_many_ips_lose_no_count(tmp_path, which):
    path = new_file(tmp_path / "t.shm", 1024)
    keys = [random.Random(n).getrandbits(64) for n in range(300)]
    allowed = _run_processes(which, path, keys, rounds=30, limit=1000)
    assert allowed == 4 * 30 * 300
    with open_table(which, path) as table:
        assert [table.hit(k, DAY, 1000)[1] for k in keys] == [121] * 300
        assert table.full_count == 0
    data = path.read_bytes()
    tags = struct.unpack_from(f"<{1024 * 2}Q", data, HEADER_SIZE)[::2]
    assert sum(1 for tag in tags if tag) == 300  # one slot per key, no duplicates


def test_four_processes_crossing_midnight_keep_one_slot_per_ip(tmp_path, which):
    path = new_file(tmp_path / "t.shm", 256)  # too small for both days: slots get reused
    keys = [random.Random(n).getrandbits(64) for n in range(200)]
    _run_processes(which, path, keys, rounds=20, limit=1000, days=[DAY] * 10 + [DAY + 1] * 10)
    data = path.read_bytes()
    words = struct.unpack_from(f"<{256 * 2}Q", data, HEADER_SIZE)
    today = [(tag, counter) for tag, counter in zip(words[::2], words[1::2], strict=True)
             if tag and (tag & 0xFFFF) == (DAY + 1) & 0xFFFF]
    assert sorted(tag >> 16 for tag, _ in today) == sorted(k >> 16 for k in keys)
    for _, counter in today:
        # 40 hits stamped DAY + 1, plus those stamped DAY that came after another process
        # had moved the table to DAY + 1.
        assert counter >> 32 == DAY + 1
        assert 40 <= counter & 0xFFFF_FFFF <= 80
    assert struct.unpack_from("<QQ", data, 24) == (DAY + 1, 0)  # newest day; never full


def test_file_size_matches_the_layout():
    assert file_size(1 << 20) == 64 + 16 * (1 << 20)
    assert len(header(8)) == HEADER_SIZE
    with pytest.raises(ValueError):
        header(12)
