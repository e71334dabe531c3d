"""An open-loop load generator: GET single events at a fixed rate, latency from the schedule.

    python loadtest/openloop.py PORT --rate 35000 [--seconds 10] [--connections 50]

Prints one JSON object: target and achieved rate, p50/p99/p99.9/max latency in
ms. The loop itself is C (loadtest/openloop.c), built here on first use with
the system's cc into .benchmarks/; this script reads the request from a wrk
script and runs it.

Why not wrk with a Lua `delay()`: wrk is closed loop. Each connection waits for
its answer before it sends again, so when the server stalls the load pauses
with it, and the requests that would have been sent during the stall are never
measured (coordinated omission): the p99 comes out too good. Here request i is
due at start + i/rate whatever happened before. It goes out on connection
i % N even if earlier answers on that connection are still outstanding (HTTP/1.1
pipelining), and its latency runs from its due time, not from when it was sent.
A late send therefore counts against the result, never for it.

Why it never sleeps: it sends what is due, reads what has arrived (epoll with
no timeout) and goes round again, so it needs a core of its own (`taskset -c
1`, nothing else busy there: loadtest/run.py pauses the shipper while it runs).
An earlier version slept at least 100 µs between rounds; on this VM each
sleep and wake-up cost more kernel time than the sends, so at 45k requests/s
it fell behind by tens of milliseconds, and under SCHED_FIFO the kernel's
real-time throttling stopped it for 50 ms once a second.

Why C: the same loop in Python needed its whole core at 55k requests/s, and
against the bare server, which answers at once, measured p50 0.6-0.9 ms and
p99 1.5-1.7 ms: its own delays, in a figure whose budget is 2 ms.

The request is the one in wrk/get_event.lua (path and headers read from it),
so this measures the same work as the full-load scenario.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "openloop.c"
BINARY = HERE.parent / ".benchmarks" / "openloop"


def request_bytes(lua: Path, port: int) -> bytes:
    """The GET request a wrk script describes (`wrk.path` and `wrk.headers[...]`)."""
    text = lua.read_text()
    path = re.search(r'wrk\.path\s*=\s*"([^"]*)"', text).group(1)
    headers = re.findall(r'wrk\.headers\["([^"]+)"\]\s*=\s*"([^"]*)"', text)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def build() -> Path:
    """The generator's binary, compiled when missing or older than its source."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("a C compiler is needed for loadtest/openloop.c (apt-get install gcc)")
    BINARY.parent.mkdir(exist_ok=True)
    subprocess.run([compiler, "-O2", "-o", str(BINARY), str(SOURCE)], check=True)
    return BINARY


def run(port: int, rate: float, seconds: float, connections: int, warmup: float,
        lua: Path) -> dict:
    binary = build()
    with tempfile.NamedTemporaryFile(suffix=".http") as request:
        request.write(request_bytes(lua, port))
        request.flush()
        done = subprocess.run([str(binary), str(port), str(rate), str(seconds), str(warmup),
                               str(connections), request.name], capture_output=True, text=True)
    if not done.stdout.strip():
        raise RuntimeError(f"openloop failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--rate", type=float, required=True, help="requests per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds not measured")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--script", type=Path, default=HERE / "wrk" / "get_event.lua")
    args = ap.parse_args()
    result = run(args.port, args.rate, args.seconds, args.connections, args.warmup, args.script)
    json.dump(result, sys.stdout)
    print()
    return 0 if result["unanswered"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
