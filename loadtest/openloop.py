"""An open-loop load generator: GET single events at a fixed rate, latency from the schedule.

    python loadtest/openloop.py PORT --rate 35000 [--seconds 10] [--connections 50]

Prints one JSON object: target and achieved rate, p50/p99/p99.9/max latency in ms.

Why not wrk with a Lua `delay()`: wrk is closed loop. Each connection waits for
its answer before it sends again, so when the server stalls the load pauses
with it, and the requests that would have been sent during the stall are never
measured (coordinated omission): the p99 comes out too good. Here request i is
due at start + i/rate whatever happened before. It goes out on connection
i % N even if earlier answers on that connection are still outstanding (HTTP/1.1
pipelining), and its latency runs from its due time, not from when it was sent.
A late send therefore counts against the result, never for it.

Why not asyncio + uvloop: their timers have millisecond resolution, so sends
would leave up to 1 ms after their due time, and that error lands in the
latency being measured against a 2 ms budget. This is one thread on
non-blocking sockets and epoll that never sleeps while requests are due: it
sends what is due, reads what has arrived (epoll with no timeout) and goes
round again. It needs a core of its own (`taskset -c 1`, and nothing else
busy there: loadtest/run.py pauses the shipper while it runs).

Why not sleep between sends: an earlier version slept at least 100 µs with
nanosleep. On this VM each sleep and wake-up cost more kernel time than the
sends, so at 45k requests/s it needed the whole core, fell behind by tens of
milliseconds (its own sends late against a bare server that answers at once:
p99 1.7-4.9 ms), and under SCHED_FIFO the kernel's real-time throttling
stopped it for 50 ms once a second. Spinning, it measured p99 0.54 ms
against the bare server at 45k requests/s.

The request is the one in wrk/get_event.lua (path and headers read from it),
so this measures the same work as the full-load scenario.
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import sys
import time
from array import array
from collections import deque
from pathlib import Path

import httptools

HERE = Path(__file__).resolve().parent
def request_bytes(lua: Path, port: int) -> bytes:
    """The GET request a wrk script describes (`wrk.path` and `wrk.headers[...]`)."""
    text = lua.read_text()
    path = re.search(r'wrk\.path\s*=\s*"([^"]*)"', text).group(1)
    headers = re.findall(r'wrk\.headers\["([^"]+)"\]\s*=\s*"([^"]*)"', text)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Connection:
    """One keep-alive connection: what it has to send and the due times of its requests."""

    def __init__(self, port: int, recorder: Recorder):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.due: deque[float] = deque()
        self.recorder = recorder
        self.parser = httptools.HttpResponseParser(self)
        self.received_at = 0.0

    def queue(self, request: bytes, due: float) -> None:
        self.out += request
        self.due.append(due)

    def flush(self) -> None:
        if not self.out:
            return
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        del self.out[:sent]

    def read(self) -> None:
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("the server closed a connection")
        self.received_at = time.perf_counter()
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:  # httptools callback
        self.recorder.answer(self.due.popleft(), self.received_at,
                             200 <= self.parser.get_status_code() < 300)


class Recorder:
    """Latencies of the requests due inside the measured window (after the warm-up)."""

    def __init__(self, window_start: float, window_end: float):
        self.window_start = window_start
        self.window_end = window_end
        self.latencies = array("d")
        self.answered = 0
        self.non_2xx = 0

    def answer(self, due: float, received_at: float, ok: bool) -> None:
        self.answered += 1
        if not ok:
            self.non_2xx += 1
        if self.window_start <= due < self.window_end:
            self.latencies.append(received_at - due)


def run(port: int, rate: float, seconds: float, connections: int, warmup: float,
        lua: Path) -> dict:
    request = request_bytes(lua, port)
    recorder = Recorder(0.0, 0.0)
    conns = [Connection(port, recorder) for _ in range(connections)]
    by_fd = {c.sock.fileno(): c for c in conns}
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    start = time.perf_counter() + 0.01
    recorder.window_start, recorder.window_end = start + warmup, start + seconds
    total = int(seconds * rate)
    interval = 1.0 / rate
    sent = 0
    waiting: list[Connection] = []
    max_send_delay = 0.0
    give_up = start + seconds + 5.0
    while recorder.answered < total:
        now = time.perf_counter()
        if now > give_up:
            break
        due_now = min(total, int((now - start) * rate) + 1) if now >= start else 0
        if due_now > sent:
            if sent > 0:
                max_send_delay = max(max_send_delay, now - (start + sent * interval))
            for i in range(sent, due_now):
                conn = conns[i % connections]
                if not conn.out:
                    waiting.append(conn)
                conn.queue(request, start + i * interval)
            sent = due_now
        if waiting:  # only the connections with something to send
            for c in waiting:
                c.flush()
            waiting = [c for c in waiting if c.out]
        for fd, _ in poller.poll(0):
            by_fd[fd].read()
        wait = (start + sent * interval) - time.perf_counter() if sent < total else 0.001
        if wait >= 0.002:  # only before the start: from then on, round again at once
            for fd, _ in poller.poll(wait - 0.001):
                by_fd[fd].read()
    for c in conns:
        c.sock.close()
    measured = sorted(recorder.latencies)
    window = seconds - warmup

    def pct(q: float) -> float:
        if not measured:
            return float("nan")
        return round(measured[min(len(measured) - 1, int(q * len(measured)))] * 1000, 3)

    return {"target_per_s": round(rate), "achieved_per_s": round(len(measured) / window),
            "connections": connections, "seconds": seconds, "warmup_seconds": warmup,
            "sent": sent, "answered": recorder.answered, "unanswered": sent - recorder.answered,
            "non_2xx": recorder.non_2xx, "measured": len(measured),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
            "max_ms": round(measured[-1] * 1000, 3) if measured else float("nan"),
            "max_send_delay_ms": round(max_send_delay * 1000, 3)}


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
