"""start_server on a real socket with uvloop, driven by a raw blocking socket client."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
import uvloop

from tracker.http import Limits, Request, Response, start_server


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """(head, body) of the next response on ``sock``; extra bytes stay in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    buffer[:] = rest
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return head, body


def at_eof(sock: socket.socket) -> bool:
    sock.settimeout(5)
    return sock.recv(1) == b""


class App:
    def __init__(self) -> None:
        self.slow_started = asyncio.Event()
        self.release = asyncio.Event()

    def handle(self, request: Request) -> object:
        if request.path == "/slow":
            return self.slow()
        return Response.json(200, {"path": request.path, "body": request.body.decode()})

    async def slow(self) -> Response:
        self.slow_started.set()
        await self.release.wait()
        return Response.json(200, {"slow": True})


def run_uvloop(coro: object) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)  # type: ignore[arg-type]


def test_requests_over_a_real_socket() -> None:
    async def scenario() -> None:
        server = await start_server(App(), "127.0.0.1", 0, Limits(), reuse_port=False)
        port = server.sockets[0].getsockname()[1]

        def client() -> list[bytes]:
            bodies = []
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                buffer = bytearray()
                sock.sendall(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
                bodies.append(read_response(sock, buffer)[1])
                sock.sendall(
                    b"POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                    b"GET /three HTTP/1.1\r\nConnection: close\r\n\r\n"
                )
                bodies.append(read_response(sock, buffer)[1])
                head, body = read_response(sock, buffer)
                assert b"connection: close" in head
                bodies.append(body)
                assert at_eof(sock)
            return bodies

        bodies = await asyncio.to_thread(client)
        assert [orjson.loads(b)["path"] for b in bodies] == ["/one", "/two", "/three"]
        assert orjson.loads(bodies[1])["body"] == "abc"
        assert server.state.requests_total == 3
        await server.shutdown(1.0)

    run_uvloop(scenario())


def test_graceful_shutdown_finishes_an_in_flight_request() -> None:
    async def scenario() -> None:
        app = App()
        server = await start_server(app, "127.0.0.1", 0, Limits(), reuse_port=True)
        port = server.sockets[0].getsockname()[1]

        idle = socket.create_connection(("127.0.0.1", port), timeout=5)
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:

            def idle_request() -> bytes:
                idle.sendall(b"GET /warm HTTP/1.1\r\n\r\n")
                return read_response(idle, bytearray())[1]

            assert orjson.loads(await asyncio.to_thread(idle_request))["path"] == "/warm"
            busy.sendall(b"GET /slow HTTP/1.1\r\n\r\n")
            await asyncio.wait_for(app.slow_started.wait(), 5)
            assert server.connections == 2

            shutdown = asyncio.create_task(server.shutdown(5.0))
            assert await asyncio.to_thread(at_eof, idle)  # idle keep-alive closed at once
            assert not shutdown.done()
            app.release.set()
            head, body = await asyncio.to_thread(read_response, busy, bytearray())
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert b"connection: close" in head
            assert orjson.loads(body) == {"slow": True}
            assert await asyncio.to_thread(at_eof, busy)
            await asyncio.wait_for(shutdown, 5)
            assert server.connections == 0
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        finally:
            idle.close()
            busy.close()

    run_uvloop(scenario())


def test_shutdown_timeout_aborts_what_is_left() -> None:
    async def scenario() -> None:
        app = App()
        server = await start_server(app, "127.0.0.1", 0, Limits(), reuse_port=False)
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\n\r\n")
            await asyncio.wait_for(app.slow_started.wait(), 5)
            await server.shutdown(0.05)  # the app never answers
            assert server.connections == 0
            with pytest.raises(ConnectionError):
                await asyncio.to_thread(read_response, sock, bytearray())

    run_uvloop(scenario())
