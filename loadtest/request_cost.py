"""CPU per request of the real worker application, in-process: no sockets, no kernel.

Builds the worker's application exactly as `tracker run` does (tracker/runtime/
worker.py `_Worker`, a log in a temporary directory, Fsync never), connects 64
HttpProtocol instances to fake transports, and feeds each one the same request
once per event loop turn, as 64 keep-alive clients would. Prints the process
CPU time per request (and per event for batches). `--const` swaps the
application for one that answers a constant 204: the cost of the HTTP layer
alone. `--profile` prints a cProfile of 300 turns instead. `--connections 1`
gives every request a loop turn of its own, as most get at half load: the
turn's own cost (the log commit, the write-out) is then paid per request.

    .venv/bin/python loadtest/request_cost.py [--post | --batch] [--const] [--profile]
        [--turns N] [--connections N]

This is the number to watch when changing the request path: it moves far less
with the machine's noise than a load test. It does move with the process's
memory layout, though: the same code measured 7.5 and 8.9 us per request
depending only on whether PYTHONPATH was set (the environment's size shifts
the interpreter's stack). Compare versions A/B in the same environment,
alternating, several times.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import orjson
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.http_fake import FakeTransport  # noqa: E402
from tracker.config import parse_config  # noqa: E402
from tracker.http import HttpProtocol, Limits, PrebuiltResponse, Response, ServerState  # noqa: E402
from tracker.runtime.worker import _Worker  # noqa: E402

UA = (b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      b"Chrome/126.0 Safari/537.36")
GET = (b"GET /tr/v1/tr/ename/page_view/etyp/view/url/https%3A%2F%2Fshop.example%2Fp%2F42"
       b"/oid/site-1?utm_source=news&utm_medium=email HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
       b"User-Agent: " + UA + b"\r\nAccept-Language: fr-FR,fr;q=0.9\r\n\r\n")
BATCH_EVENTS = 100


POST_BODY = (b'{"ename":"add_to_cart","etyp":"click","url":"https://shop.example/p/42'
             b'?utm_source=news","oid":"site-1","vp_w":1280,"vp_h":720,'
             b'"params":{"sku":"A-42","qty":2}}')


def post_request(body: bytes) -> bytes:
    """A JSON POST to /tr/v1/tr/ as loadtest/wrk sends it."""
    return (b"POST /tr/v1/tr/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            b"Content-Type: application/json\r\nUser-Agent: " + UA + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def batch_request() -> bytes:
    """The body of loadtest/wrk/post_batch.lua."""
    return post_request(orjson.dumps({"batch": [
        {"ename": "scroll", "etyp": "view", "url": f"https://shop.example/p/{i}",
         "oid": "site-1", "score": i, "params": {"depth": i}} for i in range(1, 101)]}))


class ConstantApp:
    def __init__(self) -> None:
        self.answer = PrebuiltResponse(Response.empty(204, []))

    def handle(self, request: object) -> PrebuiltResponse:
        return self.answer


async def run(args: argparse.Namespace) -> None:
    connections = args.connections or (8 if args.batch else 64)
    request = batch_request() if args.batch else post_request(POST_BODY) if args.post else GET
    with tempfile.TemporaryDirectory() as tmp:
        config, _ = parse_config({"DataDirectory": tmp, "Workers": 1, "Fsync": "never"},
                                 strict=True)
        worker = _Worker(config, 0)
        worker.writer.open()
        app = ConstantApp() if args.const else worker.app
        state = ServerState(before_write=worker.ingestor.commit)
        clients = []
        for i in range(connections):
            protocol = HttpProtocol(app, Limits(), state, False)
            transport = FakeTransport((f"10.0.0.{i % 250}", 40000 + i))
            transport.protocol = protocol
            protocol.connection_made(transport)
            clients.append((protocol, transport))

        async def turn() -> None:
            for protocol, _ in clients:
                protocol.data_received(request)
            await asyncio.sleep(0)  # the turn ends: the log commit, then the writes
            for _, transport in clients:
                transport.written.clear()

        for _ in range(200):  # warm the caches
            await turn()
        turns = args.turns // (10 if args.batch else 1)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(300):
                await turn()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
        else:
            started = time.process_time()
            for _ in range(turns):
                await turn()
            per_request = (time.process_time() - started) / (turns * connections)
            line = f"{per_request * 1e6:.2f} us CPU per request"
            if args.batch:
                line += f" ({per_request * 1e6 / BATCH_EVENTS:.2f} us per event)"
            print(line + (" (constant application)" if args.const else ""))
        worker.writer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", action="store_true", help="100-event POST batches")
    ap.add_argument("--post", action="store_true", help="one JSON event per POST")
    ap.add_argument("--const", action="store_true", help="a constant 204 application")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--turns", type=int, default=3000)
    ap.add_argument("--connections", type=int, default=0,
                    help="requests per loop turn (default 64, 8 for batches); 1 shows "
                         "what a turn costs on its own, as at half load")
    uvloop.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
