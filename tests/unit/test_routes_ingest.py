"""Ingestor: rows reach the log before their answers; one write per loop turn."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from tracker.model.tables import EVENTS, TABLES
from tracker.routes import ingest as ingest_module
from tracker.routes.ingest import Ingestor
from tracker.wal import Syncer, WalFullError, WalReader, WalWriter
from tracker.wal.format import HEADER_SIZE
from tracker.wal.segments import segment_name

OTHER = next(t for t in TABLES if t.table_id != EVENTS.table_id)


def read_all(directory: Path) -> list[tuple[int, int, list]]:
    reader = WalReader(directory, None)
    out = []
    while batch := reader.read():
        out.extend((r.table_id, r.count, orjson.loads(r.payload)) for r in batch)
    reader.close()
    return out


def make(tmp_path: Path, fsync: str = "never", quota: int = 1 << 30) -> tuple[Ingestor, WalWriter]:
    writer = WalWriter(tmp_path, worker=0, fsync=fsync, quota_bytes=quota)
    writer.open()
    return Ingestor(writer, Syncer(writer, fsync, 50)), writer


def test_rows_of_a_turn_are_one_record_per_table_written_at_commit(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        assert ingestor.append(EVENTS, [{"e": 1}, {"e": 2}], grouped=True) is None
        ingestor.append(EVENTS, [{"e": 3}], grouped=True)
        ingestor.append(OTHER, [{"o": 1}], grouped=True)
        assert read_all(tmp_path) == []  # nothing written before the commit
        assert ingestor.events_received == 4
        ingestor.commit()
        assert read_all(tmp_path) == [
            (EVENTS.table_id, 3, [{"e": 1}, {"e": 2}, {"e": 3}]),
            (OTHER.table_id, 1, [{"o": 1}]),
        ]
        assert writer.appended_events == 4
        ingestor.commit()  # nothing pending: nothing written
        assert len(read_all(tmp_path)) == 2
        writer.close()

    asyncio.run(scenario())


def test_rows_never_wait_past_the_turn(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        ingestor.append(EVENTS, [{"e": 1}], grouped=True)
        await asyncio.sleep(0)  # nobody committed: the ingestor did at the turn's end
        assert read_all(tmp_path) == [(EVENTS.table_id, 1, [{"e": 1}])]
        writer.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("append", [
    lambda ingestor: ingestor.append(EVENTS, [{"e": 1}], grouped=True),
    lambda ingestor: ingestor.append_row(EVENTS, {"e": 1}),
], ids=["append", "append_row"])
def test_fsync_always_writes_at_once_and_returns_the_durability_future(tmp_path, append):
    async def scenario() -> None:
        writer = WalWriter(tmp_path, worker=0, fsync="always")
        writer.open()
        syncer = Syncer(writer, "always", 50)
        syncer.start(asyncio.get_running_loop())
        durable = append(Ingestor(writer, syncer))
        assert read_all(tmp_path) == [(EVENTS.table_id, 1, [{"e": 1}])]
        assert durable is not None
        await durable
        await syncer.stop()
        writer.close()

    asyncio.run(scenario())


def test_quota_counts_pending_rows(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path, quota=400)
        with pytest.raises(WalFullError):
            for i in range(100):
                ingestor.append(EVENTS, [{"e": i}], grouped=True)
        assert ingestor.rejected_full == 1
        ingestor.commit()
        assert writer.bytes_on_disk <= 400
        assert sum(count for _, count, _ in read_all(tmp_path)) == ingestor.events_received
        writer.close()

    asyncio.run(scenario())


def test_the_quota_stops_the_first_row_that_does_not_fit(tmp_path):
    # Rows after the turn's first skip the quota check while they fit in the
    # room found then: the first row past the quota must still be refused.
    async def scenario(directory: Path, quota: int) -> None:
        ingestor, writer = make(directory, quota=quota)
        row = b'{"e":"xxxxxxxxxx"}'
        with pytest.raises(WalFullError):
            for _ in range(1000):
                ingestor.append_encoded(EVENTS.table_id, 1, row)
        ingestor.commit()
        used = writer.bytes_on_disk
        assert used + HEADER_SIZE <= quota  # what was taken fits...
        assert used + len(row) + 1 + HEADER_SIZE > quota  # ...and the next row did not
        assert ingestor.rejected_full == 1
        # After a commit the room is asked again: still full.
        with pytest.raises(WalFullError):
            ingestor.append_encoded(EVENTS.table_id, 1, row)
        writer.close()

    for quota in (300, 301, 302, 333, 1000):
        asyncio.run(scenario(tmp_path / str(quota), quota))


def test_a_failed_commit_keeps_the_rows_for_the_next(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        ingestor.append(EVENTS, [{"e": 1}], grouped=True)
        # The disk fails, whichever call writes (the compiled commit writes
        # without Python's os module): the segment open read-only in its place.
        segment = tmp_path / segment_name(writer.current_segment)
        good_fd, writer._fd = writer._fd, os.open(segment, os.O_RDONLY)
        try:
            with pytest.raises(OSError):
                ingestor.commit()
        finally:
            os.close(writer._fd)
            writer._fd = good_fd
        ingestor.append(EVENTS, [{"e": 2}], grouped=True)
        ingestor.commit()
        assert read_all(tmp_path) == [(EVENTS.table_id, 2, [{"e": 1}, {"e": 2}])]
        writer.close()

    asyncio.run(scenario())


def test_large_turns_are_cut_into_records_below_the_commit_size(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "COMMIT_BYTES", 200)

    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        for i in range(20):
            ingestor.append(EVENTS, [{"e": i, "pad": "x" * 20}], grouped=True)
        ingestor.commit()
        records = read_all(tmp_path)
        assert len(records) > 1
        assert [row["e"] for _, _, rows in records for row in rows] == list(range(20))
        writer.close()

    asyncio.run(scenario())


def test_not_grouped_rows_are_written_before_append_returns(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        ingestor.append(EVENTS, [{"e": 1}], grouped=True)
        assert ingestor.append(EVENTS, [{"e": 2}]) is None  # e.g. for a WebSocket ack
        assert read_all(tmp_path) == [(EVENTS.table_id, 1, [{"e": 2}])]
        ingestor.commit()
        assert [rows for _, _, rows in read_all(tmp_path)] == [[{"e": 2}], [{"e": 1}]]
        writer.close()

    asyncio.run(scenario())


def test_small_payloads_share_a_record_and_large_ones_keep_their_own(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        big = [{"e": i, "pad": "x" * 100} for i in range(60)]  # over MERGE_BELOW_BYTES
        ingestor.append(EVENTS, [{"e": "a"}], grouped=True)
        ingestor.append(EVENTS, big, grouped=True)
        ingestor.append(EVENTS, [{"e": "b"}], grouped=True)
        ingestor.append(OTHER, [{"o": 1}], grouped=True)
        ingestor.commit()
        assert read_all(tmp_path) == [(EVENTS.table_id, 2, [{"e": "a"}, {"e": "b"}]),
                                      (EVENTS.table_id, 60, big),
                                      (OTHER.table_id, 1, [{"o": 1}])]
        writer.close()

    asyncio.run(scenario())


def test_single_rows_join_the_merged_record_of_their_table(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        assert ingestor.append_row(EVENTS, {"e": 1}) is None
        ingestor.append(EVENTS, [{"e": 2}, {"e": 3}], grouped=True)
        ingestor.append_row(OTHER, {"o": 1})
        ingestor.append_row(EVENTS, {"e": 4})
        assert read_all(tmp_path) == []
        ingestor.commit()
        assert read_all(tmp_path) == [
            (EVENTS.table_id, 4, [{"e": 1}, {"e": 2}, {"e": 3}, {"e": 4}]),
            (OTHER.table_id, 1, [{"o": 1}]),
        ]
        assert ingestor.events_received == writer.appended_events == 5
        writer.close()

    asyncio.run(scenario())


def test_pending_bytes_are_the_size_of_the_records_written(tmp_path):
    async def scenario() -> None:
        ingestor, writer = make(tmp_path)
        before = writer.bytes_on_disk
        for i in range(5):
            ingestor.append_row(EVENTS, {"e": i})
        ingestor.append(EVENTS, [{"e": i, "pad": "x" * 100} for i in range(60)], grouped=True)
        ingestor.append_row(OTHER, {"o": 1})
        expected = ingestor._pending_bytes  # what the quota checks counted
        ingestor.commit()
        assert writer.bytes_on_disk - before == expected
        writer.close()

    asyncio.run(scenario())
