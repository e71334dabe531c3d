"""What reusing the log's segment files saves (docs/PERFORMANCE.md, "Session 5").

Two measurements, in a temporary directory under the data directory's disk:

- `writes`: 40 KB writes into 64 MB files for a few seconds, kernel time of the
  writing thread per write, with new files (the old ones deleted by another
  thread) and with retired files written over in place.
- `fsync`: one 420-byte record appended and fdatasync'ed at a time by the real
  WalWriter ("always"), latency with a new segment file and with a spare.

    .venv/bin/python loadtest/log_files.py [writes] [fsync] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.wal import WalWriter, retire_segments

CHUNK = os.urandom(40_000)
FILE_BYTES = 64 << 20


def kernel_us_per_write(directory: Path, reuse: bool, seconds: float) -> float:
    """Write CHUNKs into a chain of files; the two files before the current one
    are kept, older ones deleted (in another thread) or renamed and written over."""
    seq, offset, written = 0, 0, 0
    fd = os.open(directory / "0", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    kept: list[int] = []
    start = resource.getrusage(resource.RUSAGE_THREAD).ru_stime
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        os.pwrite(fd, CHUNK, offset)
        offset += len(CHUNK)
        written += 1
        if offset < FILE_BYTES:
            continue
        os.close(fd)
        kept.append(seq)
        seq += 1
        offset = 0
        old = kept.pop(0) if len(kept) > 2 else None
        if old is not None and reuse:
            os.rename(directory / str(old), directory / str(seq))
            fd = os.open(directory / str(seq), os.O_WRONLY)
            continue
        if old is not None:
            threading.Thread(target=os.unlink, args=(directory / str(old),)).start()
        fd = os.open(directory / str(seq), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.close(fd)
    return (resource.getrusage(resource.RUSAGE_THREAD).ru_stime - start) * 1e6 / written


def sync_latency_us(directory: Path, reuse: bool, appends: int = 8000) -> tuple[float, float]:
    """p50 and p99 of append + fdatasync of one record (WalWriter, Fsync always)."""
    payload = b'[{"k":"' + b"x" * 400 + b'"}]'
    segment = 4 << 20
    if reuse:  # two full segments retired to spares first
        w = WalWriter(directory, 0, "never", segment_bytes=segment)
        w.open()
        while w.current_segment < 4:
            w.append(1, 1, payload * 100)
        w.close()
        retire_segments(directory, upto=3)
        os.sync()
    w = WalWriter(directory, 0, "always", segment_bytes=segment)
    w.open()
    latencies = []
    for _ in range(appends):  # 8000 records: within the first spare
        started = time.perf_counter()
        w.append(1, 1, payload)
        w.sync()
        latencies.append(time.perf_counter() - started)
    w.close()
    latencies.sort()
    return latencies[len(latencies) // 2] * 1e6, latencies[len(latencies) * 99 // 100] * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="*", help="writes, fsync (default: both)")
    ap.add_argument("--dir", type=Path, default=Path("data"),
                    help="where the temporary files go (default ./data)")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    unknown = set(args.what) - {"writes", "fsync"}
    if unknown:
        ap.error(f"unknown measurement {sorted(unknown)}; choose writes or fsync")
    args.dir.mkdir(parents=True, exist_ok=True)
    for what in args.what or ["writes", "fsync"]:
        for reuse in (False, True, False, True):
            with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
                files = "written over" if reuse else "new files"
                if what == "writes":
                    us = kernel_us_per_write(Path(tmp), reuse, args.seconds)
                    print(f"40 KB writes, {files}: {us:.1f} us of kernel time per write",
                          flush=True)
                else:
                    p50, p99 = sync_latency_us(Path(tmp), reuse)
                    print(f"append + fdatasync, {files}: p50 {p50:.0f} us, p99 {p99:.0f} us",
                          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
