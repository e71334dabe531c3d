"""Reused segment files ("spares"): the writer overwrites a retired segment in
place, and nobody ever reads the old bytes still after its last record."""

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tracker.shipper.appended import AppendedCounter
from tracker.wal import HEADER_SIZE, WalReader, WalWriter, retire_segments, segment_files
from tracker.wal import chores as chores_module
from tracker.wal import writer as writer_module
from tracker.wal.segments import MAX_SPARES, expire_spares, scan_segment, spare_files

RECORD = 13 + 200  # record head + payload below


def payload(i: int) -> bytes:
    return (b'[{"i":%d}]' % i).ljust(200, b" ")


def open_writer(directory: Path, segment_records: int = 10) -> WalWriter:
    w = WalWriter(directory, 0, "never", segment_bytes=HEADER_SIZE + segment_records * RECORD)
    w.open()
    return w


def drain(reader: WalReader) -> list[bytes]:
    out = []
    while batch := reader.read():
        out.extend(r.payload for r in batch)
    return out


def retire(w: WalWriter, upto: int) -> None:
    """Retire segments before `upto`, as the shipper does, and let the writer's
    chores thread ready a spare for its next roll (it looks now and then)."""
    retire_segments(w.directory, upto=upto)
    w.ready_next_file_soon()
    w.wait_for_chores()


def inode(path: Path) -> int:
    return path.stat().st_ino


def test_retired_segments_become_spares_up_to_the_limit(tmp_path):
    w = open_writer(tmp_path)
    for i in range(45):  # segments 1-5, the fifth open
        w.append(1, 1, payload(i))
    before = {seq: inode(path) for seq, path in segment_files(tmp_path)}
    w.wait_for_chores()  # the rolls' own look for a spare found none
    freed = retire_segments(tmp_path, upto=5)
    assert freed == 4 * (HEADER_SIZE + 10 * RECORD)
    spares = spare_files(tmp_path)
    assert len(spares) == MAX_SPARES == 2
    # The first retired become spares (their pages are the ones still cached).
    assert sorted(inode(p) for p in spares) == sorted([before[1], before[2]])
    assert [seq for seq, _ in segment_files(tmp_path)] == [5]
    w.close()


def test_the_writer_reuses_a_spare_and_reads_show_only_new_records(tmp_path, caplog):
    w = open_writer(tmp_path)
    for i in range(25):  # segments 1-3
        w.append(1, 1, payload(i))
    reader = WalReader(tmp_path, None)
    assert drain(reader) == [payload(i) for i in range(25)]
    w.wait_for_chores()  # the rolls' own look for a spare found none
    retire_segments(tmp_path, upto=3)
    spare_inodes = {inode(p) for p in spare_files(tmp_path)}
    assert len(spare_inodes) == 2
    w.ready_next_file_soon()
    w.wait_for_chores()

    for i in range(25, 35):  # fills segment 3, then half of segment 4, in a spare
        w.append(1, 1, payload(i))
    [path] = [p for s, p in segment_files(tmp_path) if s == 4]
    assert inode(path) in spare_inodes
    assert path.stat().st_size == HEADER_SIZE + 10 * RECORD  # old bytes after 5 new records
    with caplog.at_level(logging.WARNING):
        assert drain(reader) == [payload(i) for i in range(25, 35)]
        assert drain(reader) == []  # the old records after them are never read
        w.append(1, 1, payload(35))  # written over them: read once written
        assert drain(reader) == [payload(35)]
    assert not [r for r in caplog.records if "skipping" in r.getMessage()]
    w.close()
    assert path.stat().st_size == HEADER_SIZE + 6 * RECORD  # close cut the old bytes


def test_a_rolled_reused_segment_ends_at_its_last_record(tmp_path):
    w = open_writer(tmp_path, segment_records=10)
    for i in range(25):
        w.append(1, 1, payload(i))
    retire(w, upto=3)
    w.segment_bytes = HEADER_SIZE + 4 * RECORD  # shorter segments from now on
    for i in range(25, 40):
        w.append(1, 1, payload(i))
    w.wait_for_chores()  # the chores thread cuts a rolled segment's old bytes
    for seq, path in segment_files(tmp_path)[:-1]:
        scan = scan_segment(path)
        assert scan.valid_end == scan.file_size, seq
    reader = WalReader(tmp_path, None)
    assert drain(reader) == [payload(i) for i in range(20, 40)]
    w.close()


def test_recovery_after_a_crash_cuts_old_bytes_and_counts_only_new_events(tmp_path):
    root = tmp_path
    tmp_path = root / "w0"
    w = open_writer(tmp_path)
    for i in range(25):
        w.append(1, 1, payload(i))
    retire(w, upto=3)
    for i in range(25, 33):  # segment 4, a spare, holds 3 new records
        w.append(1, 1, payload(i))
    newest = segment_files(tmp_path)[-1][1]
    assert newest.stat().st_size > HEADER_SIZE + 3 * RECORD
    counter = AppendedCounter(root)
    del w  # a crash: no close, the old bytes stay after the new records

    again = WalWriter(tmp_path, 0, "never", segment_bytes=HEADER_SIZE + 10 * RECORD)
    again.open()
    assert again.appended_events == 33
    assert newest.stat().st_size == HEADER_SIZE + 3 * RECORD
    again.append(1, 1, payload(33))
    assert counter.refresh() == {"w0": 34}
    again.close()
    assert drain(WalReader(tmp_path, None)) == [payload(i) for i in range(20, 34)]


def test_appended_counter_counts_new_records_of_a_reused_file_as_they_come(tmp_path):
    directory = tmp_path / "w0"
    w = open_writer(directory)
    for i in range(25):
        w.append(1, 1, payload(i))
    retire(w, upto=3)
    counter = AppendedCounter(tmp_path)
    for i in range(25, 31):
        w.append(1, 1, payload(i))
        assert counter.refresh() == {"w0": i + 1}
    w.close()


def test_a_slow_segment_drops_its_old_bytes_after_a_while(tmp_path, monkeypatch, caplog):
    w = open_writer(tmp_path)
    for i in range(25):
        w.append(1, 1, payload(i))
    retire(w, upto=3)
    for i in range(25, 31):  # segment 4 in a spare
        w.append(1, 1, payload(i))
    reused = segment_files(tmp_path)[-1][1]
    old_size = reused.stat().st_size
    assert old_size > HEADER_SIZE + RECORD
    w.trim_stale_tail()  # too early: kept
    w.wait_for_chores()
    assert reused.stat().st_size == old_size
    assert w.current_segment == 4
    monkeypatch.setattr(writer_module, "STALE_TAIL_SECONDS", 0.0)
    w.trim_stale_tail()  # rolls to a new file; the chores thread cuts segment 4
    w.wait_for_chores()
    assert w.current_segment == 5
    assert reused.stat().st_size == HEADER_SIZE + RECORD
    assert segment_files(tmp_path)[-1][1].stat().st_size == HEADER_SIZE  # no old bytes
    w.trim_stale_tail()  # nothing old left: no roll
    assert w.current_segment == 5
    w.append(1, 1, payload(31))
    with caplog.at_level(logging.WARNING):
        assert drain(WalReader(tmp_path, None)) == [payload(i) for i in range(20, 32)]
    assert not caplog.records
    w.close()


def test_spares_are_deleted_once_they_waited_too_long(tmp_path):
    w = open_writer(tmp_path)
    for i in range(25):
        w.append(1, 1, payload(i))
    w.wait_for_chores()
    retire_segments(tmp_path, upto=3)
    assert len(spare_files(tmp_path)) == 2
    assert expire_spares(tmp_path, max_age=30, now=time.time()) == 0
    assert expire_spares(tmp_path, max_age=30, now=time.time() + 31) == 2
    assert spare_files(tmp_path) == []
    for i in range(25, 40):  # no spare left: new files
        w.append(1, 1, payload(i))
    w.close()
    assert drain(WalReader(tmp_path, None)) == [payload(i) for i in range(20, 40)]


@pytest.mark.parametrize("fsync", ["always", "interval"])
def test_reused_segments_with_every_fsync_policy(tmp_path, fsync):
    w = WalWriter(tmp_path, 0, fsync, segment_bytes=HEADER_SIZE + 10 * RECORD)
    w.open()
    for round_ in range(4):
        for i in range(round_ * 20, round_ * 20 + 20):
            w.append(1, 1, payload(i))
        w.sync()
        retire_segments(tmp_path, upto=w.current_segment)
    w.close()
    files = os.listdir(tmp_path)
    assert all(name.endswith((".seg", ".spare")) for name in files), files
    assert drain(WalReader(tmp_path, None)) == [payload(i) for i in range(70, 80)]


def test_records_written_over_bytes_the_reader_already_read_are_not_skipped(tmp_path):
    """The reader reads old bytes at the end of a reused segment; before it
    decodes them the writer writes records there and rolls to a new segment.
    The reader must read those records, not skip them as a torn tail."""
    w = open_writer(tmp_path)
    for i in range(25):
        w.append(1, 1, payload(i))
    reader = WalReader(tmp_path, None)
    drain(reader)
    retire(w, upto=3)
    for i in range(25, 35):  # segment 4, a spare, holds 30-34 then old bytes
        w.append(1, 1, payload(i))
    assert drain(reader) == [payload(i) for i in range(25, 35)]

    real_fill = reader._fill
    writer_ran = []

    def fill_then_the_writer_runs() -> bool:
        got = real_fill()
        if not writer_ran:  # the old bytes are in the buffer now
            writer_ran.append(True)
            for i in range(35, 41):  # 35-39 fill segment 4, 40 starts segment 5
                w.append(1, 1, payload(i))
        return got

    reader._fill = fill_then_the_writer_runs
    assert drain(reader) == [payload(i) for i in range(35, 41)]
    assert writer_ran
    w.close()


WRITER = textwrap.dedent(
    """
    import random, sys
    from pathlib import Path
    from tracker.wal import WalWriter

    w = WalWriter(Path(sys.argv[1]), 0, "never", segment_bytes=8192)
    w.open()
    rng = random.Random(7)
    i, total = 0, int(sys.argv[2])
    while i < total:
        # Records of varied sizes, so old records never line up with new ones.
        n = rng.choice((1, 1, 1, 3))
        records = [(1, 1, b'[{"i":%d}]' % k + b" " * rng.randrange(600))
                   for k in range(i, min(i + n, total))]
        w.append_many(records)
        i += len(records)
    w.close()
    """
)


def test_a_reader_beside_a_writer_reusing_spares_sees_every_record_once(tmp_path, caplog):
    """A writer process appends while this process reads and retires behind the
    reader, as the shipper does: segments are reused within milliseconds. Every
    record comes once, in order, with no warning (a finished segment that kept
    old bytes would be reported as a torn tail). The narrow race of a read just
    before a roll has its own test above."""
    total = 20_000
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(total)])
    reader = WalReader(tmp_path, None)
    seen: list[int] = []
    spared = 0  # segments retired to spares (the writer takes them to roll into)
    deadline = time.monotonic() + 120
    with caplog.at_level(logging.WARNING):
        while len(seen) < total and time.monotonic() < deadline:
            batch = reader.read(max_records=50)
            seen.extend(int(r.payload[6:r.payload.index(b"}")]) for r in batch)
            before = len(spare_files(tmp_path))
            retire_segments(tmp_path, upto=reader.position.segment)
            spared += max(0, len(spare_files(tmp_path)) - before)
    assert writer.wait(timeout=60) == 0
    assert seen == list(range(total))
    assert spared > 5  # how many depends on timing: the chores thread takes them
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def evict(path: Path) -> None:
    """Drop `path`'s clean pages from the page cache, as the kernel's reclaim would."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cached(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return chores_module.in_page_cache(fd, path.stat().st_size)
    finally:
        os.close(fd)


def test_in_page_cache_tells_a_written_file_from_an_evicted_one(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(1 << 20))
    assert cached(path)
    evict(path)
    assert not cached(path)
    assert chores_module.in_page_cache(os.open(path, os.O_RDONLY), 0)  # nothing to read


def test_a_spare_the_page_cache_dropped_is_not_written_over(tmp_path):
    # Writing over uncached blocks would read each from the disk first, on the
    # loop: the writer takes a fresh file instead, and the spares are gone.
    w = open_writer(tmp_path)
    for i in range(25):  # segments 1-3
        w.append(1, 1, payload(i))
    w.wait_for_chores()  # the rolls' own look for a spare found none
    retire_segments(tmp_path, upto=3)
    for spare in spare_files(tmp_path):
        evict(spare)
    w.ready_next_file_soon()
    w.wait_for_chores()
    assert spare_files(tmp_path) == []
    for i in range(25, 35):  # rolls into segment 4
        w.append(1, 1, payload(i))
    [path] = [p for s, p in segment_files(tmp_path) if s == 4]
    # A fresh file (its inode number may be a deleted spare's): no old bytes.
    assert path.stat().st_size == HEADER_SIZE + 5 * RECORD
    reader = WalReader(tmp_path, None)
    assert drain(reader) == [payload(i) for i in range(20, 35)]
    w.close()
