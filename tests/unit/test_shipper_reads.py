import uuid
from pathlib import Path

import orjson

from tracker.model.tables import AGREEMENTS
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.reads import ReadService
from tracker.sinks.duckdb import DuckDBSink
from tracker.wal import Position, WalWriter


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
