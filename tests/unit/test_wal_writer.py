import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tracker.wal import (
    HEADER_SIZE,
    WalFullError,
    WalReader,
    WalWriter,
    encode_record,
    retire_segments,
    segment_files,
)
from tracker.wal.format import decode_record, record_seed, unpack_header


def payload(i: int) -> bytes:
    return b'[{"i":%d}]' % i


def read_all(directory: Path) -> list[tuple[int, int, bytes]]:
    reader = WalReader(directory, None)
    out = []
    while batch := reader.read():
        out.extend((r.table_id, r.count, r.payload) for r in batch)
    reader.close()
    return out


def header_of(path: Path):
    return unpack_header(path.read_bytes()[:HEADER_SIZE])


def test_open_empty_directory_starts_segment_one(tmp_path):
    w = WalWriter(tmp_path / "w0", worker=5, fsync="never")
    w.open()
    assert w.current_segment == 1
    assert w.appended_events == 0
    assert w.bytes_on_disk == HEADER_SIZE
    assert not w.dirty
    [(seq, path)] = segment_files(tmp_path / "w0")
    header = header_of(path)
    assert (seq, header.seq, header.worker, header.first_event) == (1, 1, 5, 0)
    w.close()


def test_append_writes_framed_records(tmp_path):
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    w.append(1, 1, payload(0))
    w.append(3, 2, payload(1))
    assert w.dirty
    assert w.appended_events == 3
    w.close()
    data = segment_files(tmp_path)[0][1].read_bytes()
    seed = record_seed(1)  # segment 1's
    assert data[HEADER_SIZE:] == (encode_record(1, 1, payload(0), seed)
                                  + encode_record(3, 2, payload(1), seed))
    assert w.bytes_on_disk == len(data)


def test_reopen_continues_counts_in_a_new_segment(tmp_path):
    w = WalWriter(tmp_path, 0, "interval")
    w.open()
    for i in range(3):
        w.append(1, 2, payload(i))
    w.close()
    first = segment_files(tmp_path)[0][1].read_bytes()

    w = WalWriter(tmp_path, 0, "interval")
    w.open()
    assert w.appended_events == 6
    assert w.current_segment == 2
    w.append(1, 1, payload(3))
    assert w.appended_events == 7
    w.close()

    segments = segment_files(tmp_path)
    assert [s for s, _ in segments] == [1, 2]
    assert segments[0][1].read_bytes() == first  # never appended to again
    assert header_of(segments[1][1]).first_event == 6
    assert WalWriter(tmp_path, 0, "never").appended_events == 0  # not opened yet
    w3 = WalWriter(tmp_path, 0, "never")
    w3.open()
    assert w3.appended_events == 7
    w3.close()


def test_many_records_across_rolls(tmp_path):
    w = WalWriter(tmp_path, 0, "never", segment_bytes=1024)
    w.open()
    for i in range(500):
        w.append(1 + i % 3, 1, payload(i))
    w.close()
    segments = segment_files(tmp_path)
    assert len(segments) > 10
    events = 0
    for seq, path in segments:
        size = path.stat().st_size
        assert size <= 1024
        header = header_of(path)
        assert (header.seq, header.first_event) == (seq, events)
        events += len(read_segment_records(path))
    assert events == 500
    assert read_all(tmp_path) == [(1 + i % 3, 1, payload(i)) for i in range(500)]
    assert w.bytes_on_disk == sum(p.stat().st_size for _, p in segments)


def read_segment_records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    seed = record_seed(header_of(path).seq)
    pos, out = HEADER_SIZE, []
    while pos < len(data):
        _, _, p, pos = decode_record(data, pos, seed)
        out.append(p)
    return out


def test_a_record_bigger_than_a_segment_gets_its_own_segment(tmp_path):
    w = WalWriter(tmp_path, 0, "never", segment_bytes=256)
    w.open()
    w.append(1, 1, b"a" * 10)
    w.append(1, 1, b"b" * 1000)
    w.append(1, 1, b"c" * 10)
    w.close()
    assert [len(read_segment_records(p)) for _, p in segment_files(tmp_path)] == [1, 1, 1]


def test_append_many_is_one_batch_in_one_segment(tmp_path):
    w = WalWriter(tmp_path, 0, "never", segment_bytes=400)
    w.open()
    w.append(1, 1, b"x" * 200)
    batch = [(2, 3, payload(i)) for i in range(20)]
    w.append_many(batch)
    w.append_many([])
    assert w.appended_events == 61
    w.close()
    segments = segment_files(tmp_path)
    assert len(segments) == 2  # rolled before the batch, batch kept whole
    assert read_segment_records(segments[1][1]) == [p for _, _, p in batch]


def test_torn_tail_at_every_offset_keeps_exactly_the_whole_records(tmp_path):
    src = tmp_path / "src"
    w = WalWriter(src, 0, "never")
    w.open()
    for i in range(3):
        w.append(1, 2, payload(i))
    w.close()
    [(_, seg)] = segment_files(src)
    full = seg.read_bytes()
    last_start = len(full) - len(encode_record(1, 2, payload(2)))
    for cut in range(last_start, len(full)):
        work = tmp_path / f"cut{cut}"
        shutil.copytree(src, work)
        os.truncate(work / seg.name, cut)
        w = WalWriter(work, 0, "never")
        w.open()
        assert w.appended_events == 4, cut
        assert (work / seg.name).read_bytes() == full[:last_start]
        w.append(1, 1, payload(9))
        w.close()
        assert [p for _, _, p in read_all(work)] == [payload(0), payload(1), payload(9)]
        shutil.rmtree(work)


def test_corrupt_record_in_newest_segment_is_cut_with_all_after_it(tmp_path):
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    for i in range(4):
        w.append(1, 1, payload(i))
    w.close()
    [(_, seg)] = segment_files(tmp_path)
    data = bytearray(seg.read_bytes())
    rec_len = len(encode_record(1, 1, payload(0)))
    data[HEADER_SIZE + rec_len + 10] ^= 0xFF  # inside the second record's payload
    seg.write_bytes(bytes(data))
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    assert w.appended_events == 1
    assert seg.stat().st_size == HEADER_SIZE + rec_len
    w.close()


def test_unreadable_newest_segment_is_set_aside(tmp_path):
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    w.append(1, 5, payload(0))
    w.close()
    (tmp_path / f"{2:020d}.seg").write_bytes(b"garbage")
    (tmp_path / f"{3:020d}.seg.tmp").write_bytes(b"half")
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    assert w.appended_events == 5
    assert w.current_segment == 3
    assert (tmp_path / f"{2:020d}.seg.bad").read_bytes() == b"garbage"
    assert not (tmp_path / f"{3:020d}.seg.tmp").exists()
    assert header_of(tmp_path / f"{3:020d}.seg").first_event == 5
    w.close()


def test_quota_refuses_before_writing_and_retire_frees_room(tmp_path):
    rec = len(encode_record(1, 1, b"x" * 100))
    w = WalWriter(tmp_path, 0, "never", segment_bytes=HEADER_SIZE + 2 * rec, quota_bytes=1000)
    w.open()
    appended = 0
    with pytest.raises(WalFullError):
        while True:
            w.append(1, 1, b"x" * 100)
            appended += 1
    assert appended >= 3
    on_disk = sum(p.stat().st_size for _, p in segment_files(tmp_path))
    assert w.bytes_on_disk == on_disk
    with pytest.raises(WalFullError):
        w.append_many([(1, 1, b"x" * 100)])
    assert sum(p.stat().st_size for _, p in segment_files(tmp_path)) == on_disk
    assert w.appended_events == appended

    freed = retire_segments(tmp_path, upto=w.current_segment)
    assert freed > 0
    w.refresh_usage()
    assert w.bytes_on_disk == on_disk - freed
    w.append(1, 1, b"x" * 100)
    assert w.appended_events == appended + 1
    w.close()


def test_sync_clears_dirty_and_close_is_idempotent(tmp_path):
    w = WalWriter(tmp_path, 0, "always")
    w.open()
    w.append(1, 1, payload(0))
    assert w.dirty
    w.sync()
    assert not w.dirty
    w.close()
    w.close()
    w.sync()  # after close: nothing to do, no error
    assert read_all(tmp_path) == [(1, 1, payload(0))]


def test_invalid_policy_is_refused(tmp_path):
    with pytest.raises(ValueError):
        WalWriter(tmp_path, 0, "sometimes")


def test_sync_from_another_thread_while_rolling(tmp_path):
    w = WalWriter(tmp_path, 0, "interval", segment_bytes=2048)
    w.open()
    stop = threading.Event()
    errors = []

    def syncer():
        while not stop.is_set():
            try:
                w.sync()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    t = threading.Thread(target=syncer)
    t.start()
    try:
        for i in range(2000):
            w.append(1, 1, payload(i))
    finally:
        stop.set()
        t.join()
    w.close()
    assert errors == []
    assert [p for _, _, p in read_all(tmp_path)] == [payload(i) for i in range(2000)]


def synced_fds(monkeypatch: pytest.MonkeyPatch, fail: list[int] | None = None) -> list[int]:
    """Record every fd the writer fdatasyncs; an fd in `fail` fails once."""
    seen: list[int] = []
    real = os.fdatasync

    def record(fd: int) -> None:
        if fail and fd in fail:
            fail.remove(fd)
            raise OSError(5, "simulated I/O error")
        seen.append(fd)
        real(fd)

    monkeypatch.setattr("tracker.wal.writer.os.fdatasync", record)
    return seen


def rolled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           policy: str = "interval") -> tuple[WalWriter, int, int, list[int]]:
    """A writer whose first segment rolled: that segment's fd, the records
    written, and the fds fdatasynced from the first record on."""
    w = WalWriter(tmp_path, 0, policy, segment_bytes=1024)
    w.open()
    synced = synced_fds(monkeypatch)
    w.append(1, 1, payload(0))
    old_fd = w._fd
    written = 1
    while w.current_segment == 1:
        w.append(1, 1, payload(written))
        written += 1
    return w, old_fd, written, synced


def test_a_roll_leaves_the_old_segments_sync_to_the_next_sync(tmp_path, monkeypatch):
    w, old_fd, written, synced = rolled(tmp_path, monkeypatch)
    assert old_fd not in synced  # the appending thread did not wait for the old segment
    assert w.dirty
    os.fstat(old_fd)  # still open: the sync needs it
    synced.clear()
    w.sync()
    assert synced == [old_fd, w._fd]  # older records first
    with pytest.raises(OSError):
        os.fstat(old_fd)  # closed once synced
    assert not w.dirty
    w.close()
    assert [p for _, _, p in read_all(tmp_path)] == [payload(n) for n in range(written)]


def test_a_roll_syncs_nothing_on_the_appending_thread(tmp_path, monkeypatch):
    directories: list[Path] = []
    monkeypatch.setattr("tracker.wal.writer.fsync_directory", directories.append)
    w, old_fd, _, synced = rolled(tmp_path, monkeypatch)
    # Neither the new segment's header nor its directory entry (open() synced
    # the first segment's): both would wait for the disk on the event loop.
    assert synced == [] and directories == [tmp_path]
    directories.clear()
    w.sync()
    assert synced == [old_fd, w._fd] and directories == [tmp_path]
    synced.clear()
    w.append(1, 1, payload(0))
    w.sync()
    assert synced == [w._fd] and directories == [tmp_path]  # the entry once
    w.close()


def test_a_failed_sync_leaves_the_directory_for_the_next(tmp_path, monkeypatch):
    w, _, _, _ = rolled(tmp_path, monkeypatch)
    directories: list[Path] = []
    monkeypatch.setattr("tracker.wal.writer.fsync_directory", directories.append)
    synced = synced_fds(monkeypatch, fail=[w._fd])
    with pytest.raises(OSError):
        w.sync()
    assert directories == []
    w.sync()
    assert synced[-1] == w._fd and directories == [tmp_path]
    w.close()


def test_a_newest_segment_holding_an_older_header_is_set_aside(tmp_path):
    """A crash right after a roll onto a reused file, before the next sync:
    the entry reached the disk, the new header did not, and the file still
    starts with the header and valid records of the segment it was. They
    must not be read again as this segment's."""
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    w.append(1, 3, payload(0))
    w.close()
    first = tmp_path / f"{1:020d}.seg"
    stale = tmp_path / f"{2:020d}.seg"
    shutil.copyfile(first, stale)
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    assert w.appended_events == 3
    assert (tmp_path / f"{2:020d}.seg.bad").exists() and not stale.exists()
    w.append(1, 1, payload(1))
    w.close()
    assert [p for _, _, p in read_all(tmp_path)] == [payload(0), payload(1)]


def test_the_reader_skips_a_segment_holding_another_segments_header(tmp_path, caplog):
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    w.append(1, 3, payload(0))
    w.close()
    w = WalWriter(tmp_path, 0, "never")
    w.open()
    w.append(1, 1, payload(1))
    w.close()
    # segment 2 is now a copy of segment 1: its records would pass under seed 1
    shutil.copyfile(tmp_path / f"{1:020d}.seg", tmp_path / f"{2:020d}.seg")
    (tmp_path / f"{3:020d}.seg").write_bytes(b"")  # a successor, so 2 is not the newest
    reader = WalReader(tmp_path, None)
    payloads = []
    while batch := reader.read():
        payloads += [r.payload for r in batch]
    reader.close()
    assert payloads == [payload(0)]
    assert "the header of segment 1, not 2" in caplog.text


def test_a_failed_sync_keeps_the_rolled_segment_for_the_next(tmp_path, monkeypatch):
    w, old_fd, _, _ = rolled(tmp_path, monkeypatch)
    synced = synced_fds(monkeypatch, fail=[old_fd])
    with pytest.raises(OSError):
        w.sync()
    assert w.dirty and synced == []
    w.sync()
    assert synced == [old_fd, w._fd]
    w.close()


def test_close_syncs_rolled_segments_too(tmp_path, monkeypatch):
    w, old_fd, _, synced = rolled(tmp_path, monkeypatch)
    synced.clear()
    current = w._fd
    w.close()
    assert synced == [old_fd, current]


def test_never_closes_a_rolled_segment_at_once(tmp_path, monkeypatch):
    w, old_fd, _, synced = rolled(tmp_path, monkeypatch, "never")
    with pytest.raises(OSError):
        os.fstat(old_fd)
    w.close()
    assert synced == []


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from tracker.wal import WalWriter

    w = WalWriter(Path(sys.argv[1]), 0, "interval", segment_bytes=4096)
    w.open()
    stop_after = int(sys.argv[2])
    i = 0
    while True:
        w.append(1, 1, b'[{"i":%d}]' % i)
        i += 1
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        if i == stop_after:
            os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("who_kills", ["self", "parent"])
def test_sigkill_loses_no_reported_append(tmp_path, who_kills):
    directory = tmp_path / "w0"
    stop_after = 1500 if who_kills == "self" else -1
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(stop_after)],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported = 0
    assert child.stdout is not None
    for line in child.stdout:
        reported = int(line)
        if who_kills == "parent" and reported == 1500:
            os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert reported >= 1500

    records = read_all(directory)
    assert len(records) >= reported
    assert [p for _, _, p in records] == [payload(i) for i in range(len(records))]
    w = WalWriter(directory, 0, "never")
    w.open()
    assert w.appended_events == len(records)
    w.close()


def test_append_many_beyond_one_writev_and_after_a_short_write(tmp_path, monkeypatch):
    w = WalWriter(tmp_path, worker=0, fsync="never")
    w.open()
    many = [(1, 1, payload(i)) for i in range(700)]  # 1400 buffers: more than one writev takes
    w.append_many(many)
    real_pwritev = os.pwritev

    def short_pwritev(fd: int, buffers: list[bytes], offset: int) -> int:
        return real_pwritev(fd, [bytes(buffers[0])[:5]], offset)  # the kernel may take less

    monkeypatch.setattr(os, "pwritev", short_pwritev)
    # Large payloads go by pwritev (small ones are joined and written with pwrite).
    large = [(2, 1, b"[%d]" % i + b" " * 5000) for i in range(2)]
    calls_before = []
    monkeypatch.setattr(os, "pwritev", lambda *a: calls_before.append(1) or short_pwritev(*a))
    w.append_many(large)
    assert calls_before  # the short write did happen
    w.append(3, 1, payload(2000))
    w.close()
    assert read_all(tmp_path) == [*many, *large, (3, 1, payload(2000))]
