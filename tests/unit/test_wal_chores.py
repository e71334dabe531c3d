"""The log's file chores: what may wait for the disk happens on their thread,
never on the appending one (the worker's event loop)."""

import os
import threading
from pathlib import Path

import pytest

from tests.unit.test_wal_spares import RECORD, evict, payload
from tracker.wal import HEADER_SIZE, WalReader, WalWriter, retire_segments, segment_files
from tracker.wal import chores as chores_module
from tracker.wal import writer as writer_module
from tracker.wal.chores import READY_PREFIX, FileChores
from tracker.wal.segments import spare_files


def retire_as_the_shipper(directory: Path, upto: int) -> None:
    """retire_segments on a thread of its own: the shipper does it, in its process."""
    shipper = threading.Thread(target=retire_segments, args=(directory, upto), name="shipper")
    shipper.start()
    shipper.join()


@pytest.fixture
def block_freeing_calls(monkeypatch) -> list[tuple[str, str]]:
    """(call, thread name) of every unlink and ftruncate from now on."""
    calls: list[tuple[str, str]] = []
    for name in ("unlink", "ftruncate"):
        real = getattr(os, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, threading.current_thread().name))
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    return calls


def test_rolls_over_spares_free_no_blocks_on_the_appending_thread(
        tmp_path, monkeypatch, block_freeing_calls):
    w = WalWriter(tmp_path, 0, "interval", segment_bytes=HEADER_SIZE + 10 * RECORD)
    w.open()
    for round_ in range(7):  # a segment per round; each rolls into what was readied
        for i in range(round_ * 10, round_ * 10 + 10):
            w.append(1, 1, payload(i))
        w.wait_for_chores()
        retire_as_the_shipper(tmp_path, w.current_segment)
        if round_ % 2:  # the page cache dropped them: they are deleted, not reused
            for spare in spare_files(tmp_path):
                evict(spare)
        w.ready_next_file_soon()
        w.wait_for_chores()
    for i in range(70, 73):  # into a spare: old bytes after these
        w.append(1, 1, payload(i))
    monkeypatch.setattr(writer_module, "STALE_TAIL_SECONDS", 0.0)
    w.trim_stale_tail()
    w.wait_for_chores()
    chores_thread = f"wal-chores:{tmp_path}"
    on_loop = [call for call in block_freeing_calls if call[1] == "MainThread"]
    assert not on_loop
    assert ("unlink", chores_thread) in block_freeing_calls  # cold spares
    assert ("ftruncate", chores_thread) in block_freeing_calls  # the trimmed segment
    w.close()
    got = [r.payload for r in WalReader(tmp_path, None).read()]
    assert got and got == [payload(i) for i in range(73 - len(got), 73)]


def test_a_readied_spare_is_taken_once_and_named_apart(tmp_path):
    (tmp_path / "00000000000000000001.spare").write_bytes(b"x" * 5000)
    (tmp_path / "00000000000000000002.spare").write_bytes(b"y" * 3000)
    chores = FileChores(tmp_path)  # not started: chores run in the caller
    chores.ready_soon()
    chores.ready_soon()  # one is ready already: nothing more taken
    assert len(spare_files(tmp_path)) == 1
    ready = chores.take_ready()
    assert ready is not None and chores.take_ready() is None
    assert ready.path.name.startswith(READY_PREFIX) and ready.size == 3000
    chores.ready_soon()
    second = chores.take_ready()
    assert second is not None and second.path != ready.path and second.size == 5000
    for r in (ready, second):
        os.close(r.fd)


def test_a_readied_spare_left_untaken_is_deleted(tmp_path, monkeypatch):
    (tmp_path / "00000000000000000001.spare").write_bytes(b"x" * 5000)
    chores = FileChores(tmp_path)
    chores.ready_soon()
    chores.expire_ready()  # it has not waited long
    assert [p.name[:len(READY_PREFIX)] for p in tmp_path.iterdir()] == [READY_PREFIX]
    monkeypatch.setattr(chores_module, "SPARE_SECONDS", 0.0)
    chores.expire_ready()
    assert list(tmp_path.iterdir()) == [] and chores.take_ready() is None


def test_stop_finishes_queued_cuts_and_deletes_an_untaken_spare(tmp_path):
    (tmp_path / "00000000000000000001.spare").write_bytes(b"x" * 5000)
    victim = tmp_path / "victim"
    victim.write_bytes(b"z" * 8192)
    chores = FileChores(tmp_path)
    chores.start()
    chores.ready_soon()
    chores.cut_soon(os.open(victim, os.O_RDWR), 100)
    chores.stop()
    assert victim.stat().st_size == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim"]


def test_a_failing_chore_does_not_stop_the_thread(tmp_path, caplog):
    victim = tmp_path / "victim"
    victim.write_bytes(b"z" * 8192)
    chores = FileChores(tmp_path)
    chores.start()
    read_only = os.open(victim, os.O_RDONLY)
    chores.cut_soon(read_only, 10)  # EINVAL: not open for writing
    chores.cut_soon(os.open(victim, os.O_RDWR), 100)
    chores.wait()
    chores.stop()
    assert victim.stat().st_size == 100
    assert "a file chore failed" in caplog.text
    with pytest.raises(OSError):
        os.fstat(read_only)  # closed all the same


def test_no_segment_is_lost_when_the_chores_fall_behind(tmp_path):
    """Rolls faster than the chores thread readies spares take new files."""
    w = WalWriter(tmp_path, 0, "never", segment_bytes=HEADER_SIZE + 2 * RECORD)
    w.open()
    for i in range(200):
        w.append(1, 1, payload(i))
        if i % 7 == 0:
            retire_segments(tmp_path, upto=w.current_segment - 1)
    w.close()
    reader = WalReader(tmp_path, None)
    got = [r.payload for r in reader.read()]
    first = segment_files(tmp_path)[0][0]
    assert got == [payload(i) for i in range(2 * (first - 1), 200)]


def test_without_spares_the_next_file_is_created_off_the_appending_thread(
        tmp_path, monkeypatch):
    """Creating a file allocates an inode, which may read the disk: the chores
    thread creates the next segment's file when there is no spare to ready."""
    created: list[str] = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append(threading.current_thread().name)
        return real_open(path, flags, *args, **kwargs)

    w = WalWriter(tmp_path, 0, "never", segment_bytes=HEADER_SIZE + 2 * RECORD)
    w.open()
    w.wait_for_chores()
    monkeypatch.setattr(os, "open", spy)
    for i in range(20):  # 10 segments, no spares: nobody retires any
        w.append(1, 1, payload(i))
        w.wait_for_chores()  # rolls come seconds apart in a worker
    assert w.current_segment == 10
    assert created and "MainThread" not in created
    w.close()
    assert sorted(os.listdir(tmp_path)) == [f"{seq:020d}.seg" for seq in range(1, 11)]
    got = [r.payload for r in WalReader(tmp_path, None).read()]
    assert got == [payload(i) for i in range(20)]


def test_a_new_file_is_readied_but_a_spare_found_later_replaces_it(tmp_path):
    chores = FileChores(tmp_path)
    chores.ready_soon()  # no spare: a new file
    [new] = list(tmp_path.iterdir())
    (tmp_path / "00000000000000000001.spare").write_bytes(b"x" * 5000)
    chores.ready_soon()  # the spare replaces it: writing over it costs less
    ready = chores.take_ready()
    assert ready is not None and ready.size == 5000
    assert not new.exists()
    os.close(ready.fd)
