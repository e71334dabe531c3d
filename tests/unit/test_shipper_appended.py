import orjson

from tracker.shipper.appended import AppendedCounter
from tracker.wal import WalWriter


def write(writer, n, start=0):
    rows = [{"eid": f"{i:032x}"} for i in range(start, start + n)]
    writer.append(1, n, orjson.dumps(rows))


def test_counts_follow_appends_rolls_and_restarts(tmp_path):
    root = tmp_path / "wal"
    counter = AppendedCounter(root)
    assert counter.refresh() == {}
    w0 = WalWriter(root / "w0", 0, "never", segment_bytes=300)
    w0.open()
    w1 = WalWriter(root / "w1", 1, "never")
    w1.open()
    assert counter.refresh() == {"w0": 0, "w1": 0}
    for i in range(10):
        write(w0, 3, i * 3)  # rolls segments several times
    write(w1, 5)
    assert counter.refresh() == {"w0": 30, "w1": 5}
    assert counter.current() == {"w0": 30, "w1": 5}
    assert w0.current_segment > 3
    write(w0, 2, 100)
    assert counter.refresh()["w0"] == 32
    w0.close()
    again = WalWriter(root / "w0", 0, "never")
    again.open()  # recovery starts a new segment whose header carries the total
    write(again, 1, 200)
    assert counter.refresh()["w0"] == 33
    assert counter.refresh()["w0"] == again.appended_events
    again.close()
    w1.close()


def test_a_partly_written_record_is_not_counted(tmp_path):
    root = tmp_path / "wal"
    w = WalWriter(root / "w0", 0, "never")
    w.open()
    write(w, 4)
    path = sorted((root / "w0").glob("*.seg"))[-1]
    with open(path, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x00")  # the start of a record still being written
    counter = AppendedCounter(root)
    assert counter.refresh() == {"w0": 4}
    w.close()
