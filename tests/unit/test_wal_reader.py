import logging
import os
from pathlib import Path

from tracker.wal import (
    HEADER_SIZE,
    Position,
    WalReader,
    WalWriter,
    encode_record,
    list_worker_dirs,
    retire_segments,
    segment_files,
)
from tracker.wal.format import pack_header, record_seed, unpack_header


def payload(i: int) -> bytes:
    return b'[{"i":%d}]' % i


def seg_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:020d}.seg"


def write_segment(directory: Path, seq: int, first_event: int, body: bytes) -> Path:
    """A segment built by hand, to place damage where a writer never would.
    Version 1 (records checksummed without a seed): those are still read."""
    directory.mkdir(parents=True, exist_ok=True)
    path = seg_path(directory, seq)
    path.write_bytes(pack_header(0, seq, first_event, version=1) + body)
    return path


def drain(reader: WalReader, **limits) -> list:
    out = []
    while batch := reader.read(**limits):
        out.extend(batch)
    return out


def open_writer(directory: Path, **kw) -> WalWriter:
    w = WalWriter(directory, 0, "never", **kw)
    w.open()
    return w


def test_round_trip_with_positions(tmp_path):
    w = open_writer(tmp_path)
    w.append(1, 2, payload(0))
    w.append(2, 3, payload(1))
    reader = WalReader(tmp_path, None)
    records = reader.read()
    assert [(r.table_id, r.count, r.payload) for r in records] == [
        (1, 2, payload(0)),
        (2, 3, payload(1)),
    ]
    first_len = len(encode_record(1, 2, payload(0)))
    assert records[0].end == Position(1, HEADER_SIZE + first_len, 2)
    assert records[1].end.events == 5 == w.appended_events
    assert reader.position == records[1].end
    assert reader.read() == []
    reader.close()
    w.close()


def test_reader_sees_records_appended_after_reaching_the_end(tmp_path):
    w = open_writer(tmp_path, segment_bytes=300)
    reader = WalReader(tmp_path, None)
    assert reader.read() == []
    seen = []
    for i in range(60):  # crosses several rolls
        w.append(1, 1, payload(i))
        batch = reader.read()
        assert len(batch) == 1
        seen.extend(batch)
        assert reader.read() == []
    assert [r.payload for r in seen] == [payload(i) for i in range(60)]
    assert seen[-1].end.segment == w.current_segment > 1
    assert seen[-1].end.events == 60
    w.close()


def test_reader_started_before_the_directory_exists(tmp_path):
    directory = tmp_path / "w0"
    reader = WalReader(directory, None)
    assert reader.read() == []
    w = open_writer(directory)
    w.append(1, 1, payload(0))
    assert [r.payload for r in reader.read()] == [payload(0)]
    w.close()


def test_limits_on_records_and_bytes(tmp_path):
    w = open_writer(tmp_path)
    for _ in range(10):
        w.append(1, 1, b"x" * 100)
    reader = WalReader(tmp_path, None)
    assert len(reader.read(max_records=3)) == 3
    assert len(reader.read(max_bytes=250)) == 3  # stops once 250 bytes are reached
    assert len(reader.read()) == 4
    w.close()


def test_resume_from_a_position(tmp_path):
    w = open_writer(tmp_path, segment_bytes=200)
    for i in range(20):
        w.append(1, 1, payload(i))
    reader = WalReader(tmp_path, None)
    first = reader.read(max_records=7)
    cursor = reader.position
    assert cursor == first[-1].end
    reader.close()
    rest = drain(WalReader(tmp_path, cursor))
    assert [r.payload for r in rest] == [payload(i) for i in range(7, 20)]
    assert rest[-1].end.events == 20
    w.close()


def test_offset_zero_is_normalized_to_the_first_record(tmp_path):
    w = open_writer(tmp_path, segment_bytes=200)
    for i in range(20):
        w.append(1, 1, payload(i))
    second = segment_files(tmp_path)[1][0]
    reader = WalReader(tmp_path, Position(second, 0, 0))
    records = reader.read(max_records=1)
    first_event = unpack_header(seg_path(tmp_path, second).read_bytes()).first_event
    assert first_event > 0
    assert records[0].payload == payload(first_event)
    assert records[0].end.events == first_event + 1
    w.close()


def test_start_segment_deleted_moves_to_the_next_one(tmp_path, caplog):
    w = open_writer(tmp_path, segment_bytes=200)
    for i in range(20):
        w.append(1, 1, payload(i))
    segments = segment_files(tmp_path)
    start = Position(segments[0][0], HEADER_SIZE, 0)
    segments[0][1].unlink()
    segments[1][1].unlink()
    reader = WalReader(tmp_path, start)
    with caplog.at_level(logging.WARNING):
        records = drain(reader)
    first_event = unpack_header(segments[2][1].read_bytes()).first_event
    assert records[0].payload == payload(first_event)
    assert records[-1].end.events == 20
    assert "retired" in caplog.text
    w.close()


def test_positions_are_cumulative_across_writer_restarts(tmp_path):
    ends = []
    for run in range(3):
        w = open_writer(tmp_path)
        w.append(1, 2, payload(run))
        w.append(1, 3, payload(run))
        ends.append(w.appended_events)
        w.close()
    assert ends == [5, 10, 15]
    records = drain(WalReader(tmp_path, None))
    assert [r.end.events for r in records] == [2, 5, 7, 10, 12, 15]
    assert [r.end.segment for r in records] == [1, 1, 2, 2, 3, 3]


def test_partial_record_at_end_of_newest_segment_means_wait(tmp_path):
    rec = encode_record(1, 1, payload(1))
    path = write_segment(tmp_path, 1, 0, encode_record(1, 1, payload(0)) + rec[:7])
    reader = WalReader(tmp_path, None)
    assert [r.payload for r in reader.read()] == [payload(0)]
    assert reader.read() == []
    with open(path, "ab") as f:
        f.write(rec[7:])
    assert [r.payload for r in reader.read()] == [payload(1)]


def test_record_completed_just_before_the_roll_is_not_skipped(tmp_path):
    rec = encode_record(1, 1, payload(1))
    path = write_segment(tmp_path, 1, 0, encode_record(1, 1, payload(0)) + rec[:20])
    reader = WalReader(tmp_path, None)
    assert len(reader.read()) == 1
    assert reader.read() == []
    with open(path, "ab") as f:
        f.write(rec[20:])
    write_segment(tmp_path, 2, 2, encode_record(1, 1, payload(2)))
    assert [r.payload for r in reader.read()] == [payload(1), payload(2)]


def test_torn_tail_of_a_segment_with_a_successor_is_skipped(tmp_path, caplog):
    rec = encode_record(1, 1, payload(1))
    write_segment(tmp_path, 1, 0, encode_record(1, 1, payload(0)) + rec[:9])
    # The successor says two events came before it: the torn record was one.
    write_segment(tmp_path, 2, 2, encode_record(1, 1, payload(2)))
    with caplog.at_level(logging.WARNING):
        records = drain(WalReader(tmp_path, None))
    assert [r.payload for r in records] == [payload(0), payload(2)]
    assert [r.end.events for r in records] == [1, 3]
    assert "skipping 9 bytes" in caplog.text


def test_old_bytes_after_every_event_of_a_segment_are_skipped_quietly(tmp_path, caplog):
    """A reused file's old bytes after a rolled segment's last record, before the
    writer's chores thread cuts them: its successor's header counts exactly the
    events read, so nothing is lost and nothing is reported."""
    old = encode_record(1, 1, payload(7), record_seed(9))  # the file was segment 9
    seg_path(tmp_path, 1).write_bytes(
        pack_header(0, 1, 0) + encode_record(1, 1, payload(0), record_seed(1)) + old)
    write_segment(tmp_path, 2, 1, encode_record(1, 1, payload(2)))
    with caplog.at_level(logging.DEBUG):
        records = drain(WalReader(tmp_path, None))
    assert [r.payload for r in records] == [payload(0), payload(2)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"{len(old)} old bytes after segment 1" in caplog.text


def test_corrupt_crc_mid_segment_skips_to_successor(tmp_path, caplog):
    good = [encode_record(1, 1, payload(i)) for i in range(3)]
    bad = bytearray(good[1])
    bad[-2] ^= 0x55
    body = good[0] + bytes(bad) + good[2]
    write_segment(tmp_path, 1, 0, body)
    reader = WalReader(tmp_path, None)
    assert [r.payload for r in reader.read()] == [payload(0)]
    assert reader.read() == []  # newest segment: maybe still being written, wait
    write_segment(tmp_path, 2, 3, encode_record(1, 1, payload(3)))
    with caplog.at_level(logging.WARNING):
        records = reader.read()
    assert [r.payload for r in records] == [payload(3)]
    assert records[0].end == Position(2, HEADER_SIZE + len(good[0]), 4)
    assert f"skipping {len(bad) + len(good[2])} bytes" in caplog.text


def test_many_records_read_in_chunks(tmp_path):
    w = open_writer(tmp_path, segment_bytes=1 << 20)
    big = b"y" * 5000
    for i in range(1000):
        w.append(1, 1, payload(i) + big)
    reader = WalReader(tmp_path, None)
    records = drain(reader, max_records=333)
    assert [r.payload for r in records] == [payload(i) + big for i in range(1000)]
    assert reader.position.events == 1000
    assert reader.position.segment == w.current_segment
    w.close()


def test_retire_segments_keeps_the_newest(tmp_path):
    w = open_writer(tmp_path, segment_bytes=200)
    for i in range(20):
        w.append(1, 1, payload(i))
    segments = segment_files(tmp_path)
    sizes = {seq: p.stat().st_size for seq, p in segments}
    assert retire_segments(tmp_path, upto=3) == sizes[1] + sizes[2]
    assert segment_files(tmp_path)[0][0] == 3
    newest = segments[-1][0]
    retire_segments(tmp_path, upto=newest + 10)
    assert [s for s, _ in segment_files(tmp_path)] == [newest]
    w.close()


def test_segment_files_and_worker_dirs(tmp_path):
    for name in ["w10", "w2", "w0", "x1", "wal"]:
        (tmp_path / name).mkdir()
    (tmp_path / "w3").write_bytes(b"")  # a file, not a directory
    assert list_worker_dirs(tmp_path) == [tmp_path / "w0", tmp_path / "w2", tmp_path / "w10"]
    assert list_worker_dirs(tmp_path / "missing") == []
    d = tmp_path / "w0"
    for name in [f"{12:020d}.seg", f"{3:020d}.seg", f"{4:020d}.seg.tmp", f"{5:020d}.seg.bad"]:
        (d / name).write_bytes(b"")
    assert segment_files(d) == [(3, seg_path(d, 3)), (12, seg_path(d, 12))]
    assert os.path.exists(d / f"{4:020d}.seg.tmp")


def test_read_chunk_gives_what_read_gives_without_positions(tmp_path):
    w = open_writer(tmp_path, segment_bytes=HEADER_SIZE + 3 * len(encode_record(1, 1, payload(0))))
    for i in range(10):
        w.append(1 + i % 2, 1, payload(i))
    full = drain(WalReader(tmp_path, None), max_records=4)
    reader = WalReader(tmp_path, None)
    chunks = []
    while chunk := reader.read_chunk(max_records=4):
        chunks.append(chunk)
        assert reader.position.events == sum(len(c) for c in chunks)  # the end of the chunk
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert [x for c in chunks for x in c] == [(r.table_id, r.payload) for r in full]
    assert reader.position == full[-1].end
    assert reader.position.segment > 1
