"""WebSocket over a real socket: tracker.http.start_server on uvloop, a raw socket client."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import lz4.block
import orjson
import uvloop

from tests.unit.ws_fake import WsClient, client_frame
from tracker.http import HttpServer, Limits, Request, Response, start_server
from tracker.ws import WsLimits, accept_key, upgrade
from tracker.ws.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    Close,
    Event,
    Message,
    Pong,
)


class App:
    """/ws is a WebSocket whose handler records events and acks them after an await."""

    def __init__(self, allow_origin: tuple[str, ...] = ("*",)) -> None:
        self.allow_origin = allow_origin
        self.received: list[Any] = []
        self.server: HttpServer | None = None

    def handle(self, request: Request) -> object:
        if request.path != "/ws":
            return Response.json(200, {"path": request.path})
        limits = WsLimits(max_message_bytes=10_000, idle_timeout=5.0, close_timeout=2.0)
        return upgrade(request, self.on_message, limits, allow_origin=self.allow_origin,
                       server=self.server.state)

    async def on_message(self, items: list[Any], is_batch: bool) -> int:
        await asyncio.sleep(0)  # the log append the routes will do
        self.received.extend(items)
        return len(items)


def connect_ws(port: int, query: str = "", extra: bytes = b"",
               headers: bytes = b"") -> WsClient:
    """A client of the test app's /ws."""
    return WsClient(port, "/ws", query, extra, headers)


def run_uvloop(coro: Any) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


async def serve(app: App, **limits: Any) -> tuple[HttpServer, int]:
    server = await start_server(app, "127.0.0.1", 0, Limits(**limits), reuse_port=False)
    app.server = server
    return server, server.sockets[0].getsockname()[1]


def test_messages_acks_ping_and_close_handshake() -> None:
    async def scenario() -> None:
        app = App()
        server, port = await serve(app)
        raw = orjson.dumps([{"en": "lz4"}, {"en": "more"}])
        binary = len(raw).to_bytes(4, "little") + lz4.block.compress(raw, store_size=False)

        def client() -> list[Event]:
            # The first message travels in the same packet as the handshake.
            ws = connect_ws(port, "?ack=1", extra=client_frame(OP_TEXT, b'{"en":"tail"}'))
            try:
                assert ws.head.startswith(b"HTTP/1.1 101 ")
                assert f"sec-websocket-accept: {accept_key(ws.key)}".encode() in ws.head
                ws.send(OP_TEXT, b'{"batch":[{"en":', fin=False)
                ws.send(OP_PING, b"between")
                ws.send(0, b'"frag"}]}')
                ws.send(OP_BINARY, binary)
                events = [ws.receive() for _ in range(4)]
                ws.send(OP_CLOSE, (1000).to_bytes(2, "big"))
                events.append(ws.receive())
                assert ws.at_eof()  # the server closes TCP after the handshake
                return events
            finally:
                ws.close()

        events = await asyncio.to_thread(client)
        assert events == [
            Message(False, b'{"accepted":1}'),
            Pong(b"between"),  # answered while the fragmented message was incomplete
            Message(False, b'{"accepted":1}'),
            Message(False, b'{"accepted":2}'),
            Close(1000, ""),
        ]
        assert [e["en"] for e in app.received] == ["tail", "frag", "lz4", "more"]
        assert await server.state.wait_empty(5.0)
        await server.shutdown(1.0)

    run_uvloop(scenario())


def test_too_big_closes_with_1009_and_the_client_reads_it() -> None:
    async def scenario() -> None:
        app = App()
        server, port = await serve(app)

        def client() -> Event:
            ws = connect_ws(port)
            try:
                # Header of a 2 GB frame, then a little of its payload.
                ws.sock.sendall(bytes([0x82, 0xFF]) + (2 << 30).to_bytes(8, "big") + b"mask")
                ws.sock.sendall(b"x" * 50_000)
                event = ws.receive()
                assert ws.at_eof()  # the server half-closed after its Close
                return event
            finally:
                ws.close()

        event = await asyncio.to_thread(client)
        assert isinstance(event, Close) and event.code == 1009
        assert app.received == []
        await server.shutdown(1.0)

    run_uvloop(scenario())


def test_websockets_count_against_max_connections() -> None:
    async def scenario() -> None:
        app = App()
        server, port = await serve(app, max_connections=1)

        def client() -> bytes:
            ws = connect_ws(port)
            try:
                assert ws.head.startswith(b"HTTP/1.1 101 ")
                with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
                    other.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
                    return other.recv(4096)
            finally:
                ws.close()

        answer = await asyncio.to_thread(client)
        assert answer.startswith(b"HTTP/1.1 503 ")
        await server.shutdown(1.0)

    run_uvloop(scenario())


def test_shutdown_closes_websockets_with_1001() -> None:
    async def scenario() -> None:
        app = App()
        server, port = await serve(app)
        ws = await asyncio.to_thread(connect_ws, port, "?ack=1")
        try:
            await asyncio.to_thread(ws.send, OP_TEXT, b'{"en":"x"}')
            assert await asyncio.to_thread(ws.receive) == Message(False, b'{"accepted":1}')
            assert server.connections == 1
            shutdown = asyncio.create_task(server.shutdown(5.0))
            event = await asyncio.to_thread(ws.receive)
            assert isinstance(event, Close) and event.code == 1001
            await asyncio.to_thread(ws.send, OP_CLOSE, (1001).to_bytes(2, "big"))
            assert await asyncio.to_thread(ws.at_eof)
            await asyncio.wait_for(shutdown, 5)
            assert server.connections == 0
        finally:
            ws.close()

    run_uvloop(scenario())


def test_refused_origin_is_403() -> None:
    async def scenario() -> None:
        app = App(allow_origin=("https://shop.example",))
        server, port = await serve(app)
        ws = await asyncio.to_thread(connect_ws, port, "", b"", b"Origin: https://evil.example\r\n")
        try:
            assert ws.head.startswith(b"HTTP/1.1 403 ")
        finally:
            ws.close()
        await server.shutdown(1.0)

    run_uvloop(scenario())
