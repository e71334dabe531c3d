import uuid
from pathlib import Path

import orjson

from tracker.model.tables import AGREEMENTS
from tracker.shipper import reads as reads_module
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.reads import ReadService, undelivered_rows
from tracker.sinks.duckdb import DuckDBSink
from tracker.wal import Position, WalWriter, retire_segments, segment_files


def _agreement(vid: str, cflags: int, at: int) -> dict:
    return {"aid": str(uuid.uuid4()), "created_at": at, "vid": vid, "cflags": cflags}


def test_reads_merge_the_store_with_the_logs_undelivered_tail(tmp_path: Path) -> None:
    from tracker._fast import TableBuffer

    vid = str(uuid.uuid4())
    delivered = _agreement(vid, 1, 1000)
    sink = DuckDBSink("duckdb", tmp_path / "t.duckdb")
    sink.open()
    buffer = TableBuffer(AGREEMENTS)
    buffer.append(delivered)
    sink.write(buffer.take())
    writer = WalWriter(tmp_path / "wal" / "w0", worker=0, fsync="never")
    writer.open()
    # The delivered row is in the log too (before the cursor) and once more after
    # it, as a replay would leave it; one new row and another visitor's row follow.
    writer.append(AGREEMENTS.table_id, 1, orjson.dumps([delivered]))
    cursor = Position(writer.current_segment, 32 + 13 + len(orjson.dumps([delivered])), 1)
    CursorStore(cursor_path(tmp_path, "duckdb")).save({"w0": cursor})
    fresh = _agreement(vid, 5, 2000)
    writer.append(AGREEMENTS.table_id, 3, orjson.dumps(
        [delivered, fresh, _agreement(str(uuid.uuid4()), 1, 3000)]))
    writer.close()
    rows = ReadService(tmp_path, sink).rows(AGREEMENTS, "vid", vid)
    assert [r["aid"] for r in rows] == [fresh["aid"], delivered["aid"]]  # newest first, once
    assert rows[1]["created_at"] == 1000 and rows[0]["cflags"] == 5
    sink.close()


def test_the_tail_scan_reaches_past_a_newest_segment_that_reuses_a_file(tmp_path: Path,
                                                                         monkeypatch) -> None:
    """A reused file is as long as the segment it held before, whatever its own
    records: it must not use up the scan's budget and hide the older segments."""
    monkeypatch.setattr(reads_module, "TAIL_SCAN_BYTES", 2000)
    wal0 = tmp_path / "wal" / "w0"
    writer = WalWriter(wal0, worker=0, fsync="never", segment_bytes=32 + 10 * 213)
    writer.open()

    def append(i: int, vid: str = "other") -> None:
        payload = orjson.dumps([{"aid": str(i), "vid": vid}]).ljust(200)
        writer.append(AGREEMENTS.table_id, 1, payload)

    for i in range(25):  # segments 1-3
        append(i)
    retire_segments(wal0, upto=3)  # 1 and 2 become spares
    writer.ready_next_file_soon()  # for the next roll
    writer.wait_for_chores()
    for i in range(25, 32):  # segment 3 ends with 27 among 25-29; segment 4 is a spare
        append(i, "target" if i in (27, 31) else "other")
    assert [seq for seq, _ in segment_files(wal0)] == [3, 4]
    assert (wal0 / f"{4:020d}.seg").stat().st_size > 2000  # its old bytes
    found = undelivered_rows(tmp_path / "wal", {"w0": Position(3, 0, 20)}, AGREEMENTS,
                             lambda row: row["vid"] == "target")
    assert sorted(row["aid"] for row in found) == ["27", "31"]
    writer.close()
