"""WalCore (tracker._fast.walcore), compiled and twin: the turn's merged record
framed and written as format.py frames it, or refused with nothing changed."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import ingestcore_py, walcore_py
from tracker.wal import WalReader, WalWriter
from tracker.wal.format import (
    HEADER_SIZE,
    MAX_PAYLOAD_BYTES,
    RECORD_HEAD_SIZE,
    encode_record,
    record_seed,
)


def _compiled() -> Any:
    try:
        return importlib.import_module("tracker._fast.walcore")
    except ImportError:
        pytest.skip("tracker._fast.walcore is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def impl(request: pytest.FixtureRequest) -> Any:
    return _compiled() if request.param == "compiled" else walcore_py


def core_on(impl: Any, path: Path, seq: int = 7, segment_bytes: int = 1 << 20,
            quota_bytes: int = 1 << 30) -> Any:
    """A WalCore positioned after a segment header in a fresh file."""
    core = impl.WalCore()
    core._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(core._fd, b"h" * HEADER_SIZE, 0)
    core._seq = seq
    core._seg_size = HEADER_SIZE
    core._bytes_on_disk = HEADER_SIZE
    core.segment_bytes = segment_bytes
    core.quota_bytes = quota_bytes
    return core


def state(core: Any) -> tuple:
    return (core._seg_size, core._bytes_on_disk, core._appended_events, core._dirty)


def test_the_record_is_format_py_s(impl: Any, tmp_path: Path) -> None:
    core = core_on(impl, tmp_path / "seg")
    assert core.append_if_room(3, 2, bytearray(b'[{"a":1},{"b":2}'), b"]")
    first = encode_record(3, 2, b'[{"a":1},{"b":2}]', record_seed(7))
    assert core.append_if_room(1, 1, bytearray(b"[1"), b"]")
    second = encode_record(1, 1, b"[1]", record_seed(7))
    with open(tmp_path / "seg", "rb") as f:
        assert f.read()[HEADER_SIZE:] == first + second
    end = HEADER_SIZE + len(first) + len(second)
    assert state(core) == (end, end, 3, True)
    os.close(core._fd)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=3000), tail=st.binary(max_size=4),
       table_id=st.integers(0, 255), count=st.integers(0, 2**32 - 1),
       seq=st.integers(0, 2**40))
def test_random_records_match_format_py(tmp_path_factory: pytest.TempPathFactory, body: bytes,
                                        tail: bytes, table_id: int, count: int,
                                        seq: int) -> None:
    directory = tmp_path_factory.mktemp("walcore")
    for impl in (_compiled(), walcore_py):
        path = directory / impl.__name__
        core = core_on(impl, path, seq=seq)
        assert core.append_if_room(table_id, count, bytearray(body), tail)
        os.close(core._fd)
        assert path.read_bytes()[HEADER_SIZE:] == encode_record(table_id, count, body + tail,
                                                               record_seed(seq))


def test_a_record_that_needs_a_roll_is_refused(impl: Any, tmp_path: Path) -> None:
    core = core_on(impl, tmp_path / "seg", segment_bytes=HEADER_SIZE + 2 * (RECORD_HEAD_SIZE + 10))
    body = bytearray(b"x" * 9)
    assert core.append_if_room(1, 1, body, b"]")
    assert core.append_if_room(1, 1, body, b"]")  # exactly full
    before = state(core)
    assert not core.append_if_room(1, 1, bytearray(b""), b"]")
    assert state(core) == before
    os.close(core._fd)


def test_the_first_record_of_a_segment_may_be_larger_than_the_segment(
        impl: Any, tmp_path: Path) -> None:
    core = core_on(impl, tmp_path / "seg", segment_bytes=HEADER_SIZE + 5)
    assert core.append_if_room(1, 1, bytearray(b"x" * 100), b"]")
    os.close(core._fd)


def test_the_quota_refuses_the_first_byte_over_it(impl: Any, tmp_path: Path) -> None:
    size = RECORD_HEAD_SIZE + 10
    core = core_on(impl, tmp_path / "seg", quota_bytes=HEADER_SIZE + size)
    assert core.room() == size - HEADER_SIZE  # a new segment's header is kept free
    assert not core.append_if_room(1, 1, bytearray(b"x" * 10), b"]")  # one byte over
    assert state(core) == (HEADER_SIZE, HEADER_SIZE, 0, False)
    assert core.append_if_room(1, 1, bytearray(b"x" * 9), b"]")  # exactly at it
    os.close(core._fd)


def test_closed_oversized_or_out_of_range_records_are_refused(impl: Any, tmp_path: Path) -> None:
    core = core_on(impl, tmp_path / "seg")
    fd, core._fd = core._fd, -1
    assert not core.append_if_room(1, 1, bytearray(b"[1"), b"]")
    core._fd = fd
    assert not core.append_if_room(256, 1, bytearray(b"[1"), b"]")
    assert not core.append_if_room(1, 2**32, bytearray(b"[1"), b"]")
    assert not core.append_if_room(1, 1, bytearray(MAX_PAYLOAD_BYTES), b"]")
    assert state(core) == (HEADER_SIZE, HEADER_SIZE, 0, False)
    os.close(fd)


def test_a_failed_write_is_refused_with_nothing_counted(impl: Any, tmp_path: Path) -> None:
    core = core_on(impl, tmp_path / "seg")
    fd, core._fd = core._fd, os.open(tmp_path / "seg", os.O_RDONLY)
    assert not core.append_if_room(1, 1, bytearray(b"[1"), b"]")
    assert state(core) == (HEADER_SIZE, HEADER_SIZE, 0, False)
    os.close(core._fd)
    os.close(fd)


def test_the_writer_rolls_where_the_core_refuses(tmp_path: Path) -> None:
    writer = WalWriter(tmp_path, worker=0, fsync="never", segment_bytes=200)
    writer.open()
    for i in range(40):
        body = bytearray(b"[" + str(i).encode())
        if not writer.append_if_room(1, 1, body, b"]"):
            writer.append(1, 1, bytes(body) + b"]")  # the general way: a roll
    assert writer.current_segment > 2
    writer.close()
    reader = WalReader(tmp_path, None)
    rows = []
    while batch := reader.read():
        rows += [record.payload for record in batch]
    reader.close()
    assert rows == [b"[%d]" % i for i in range(40)]


def test_the_sizes_the_cores_assume_are_format_py_s() -> None:
    assert ingestcore_py.RECORD_HEAD_SIZE == RECORD_HEAD_SIZE
