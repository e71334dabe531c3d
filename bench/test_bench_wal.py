"""WAL micro-benchmarks (pytest-benchmark). Run: .venv/bin/pytest bench/test_bench_wal.py

Appends use fsync "never": they measure framing + write(2) into the page cache,
which is the cost on the request path; fsync cost depends on the disk.
"""

import orjson
import pytest

from tracker.wal import WalReader, WalWriter


def event_payload(size: int = 300) -> bytes:
    row = {"eid": "0190f5a4-7c1e-7abc-8def-0123456789ab", "created_at": 1730000000000, "url": ""}
    row["url"] = "p" * (size - len(orjson.dumps([row])))
    return orjson.dumps([row])


@pytest.fixture
def writer(tmp_path):
    w = WalWriter(tmp_path / "w0", 0, "never")
    w.open()
    yield w
    w.close()


def test_bench_append_300_byte_event(benchmark, writer):
    payload = event_payload()
    assert len(payload) == 300
    # Fixed rounds bound the disk used (~30 MB).
    benchmark.pedantic(writer.append, args=(1, 1, payload), rounds=20, iterations=5000)
    assert writer.appended_events == 20 * 5000 + 1  # + the warm-up call


def test_bench_append_many_100_records(benchmark, writer):
    batch = [(1, 1, event_payload())] * 100
    benchmark.pedantic(writer.append_many, args=(batch,), rounds=20, iterations=50)
    assert writer.appended_events == 100 * (20 * 50 + 1)


def test_bench_reader_throughput(benchmark, tmp_path):
    directory = tmp_path / "w0"
    w = WalWriter(directory, 0, "never", segment_bytes=16 << 20)
    w.open()
    batch = [(1, 1, event_payload())] * 1000
    for _ in range(100):
        w.append_many(batch)
    w.close()

    def read_everything() -> int:
        reader = WalReader(directory, None)
        n = 0
        while records := reader.read():
            n += len(records)
        reader.close()
        return n

    # One round reads 100k records of 300 bytes (~31 MB across 2 segments).
    assert benchmark.pedantic(read_everything, rounds=5, iterations=1) == 100_000
