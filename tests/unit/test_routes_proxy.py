"""ReverseProxy behind HttpProtocol (fake client transport) and a real local upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tracker.events import ClientIpResolver
from tracker.routes.proxy import ReverseProxy

from .http_fake import FakeTransport, connect, parse_replies, run_async

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A local server: records each request head, then runs `script` for the answer."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            await self.script(reader, writer)

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def writes(*parts: bytes, close: bool = True) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
        if close:
            writer.close()

    return script


async def until(condition: Callable[[], bool]) -> None:
    """Run the loop until `condition` holds (real sockets take a few turns)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def answered(protocol: object, transport: FakeTransport) -> Callable[[], bool]:
    return lambda: transport.closed or protocol.pending == 0


@run_async
async def test_streamed_answer_is_relayed_chunked_with_forwarded_headers() -> None:
    upstream = Upstream(writes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        b"Content-Type: text/plain\r\nKeep-Alive: timeout=5\r\n\r\n",
        b"5\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"))
    async with upstream as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"POST /api/x?q=1 HTTP/1.1\r\nHost: site\r\nExpect: 100-continue"
                               b"\r\nContent-Length: 2\r\n\r\nhi")
        await until(answered(protocol, transport))
    (reply,) = parse_replies(transport.take())
    assert reply.status == 200 and reply.body == b"hello world"
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.headers["content-type"] == "text/plain"
    assert "keep-alive" not in reply.headers and "connection" not in reply.headers
    assert not transport.closed
    head = upstream.heads[0].decode().lower()
    assert head.startswith("post /api/x?q=1 http/1.1")
    assert "x-forwarded-for: 203.0.113.7" in head and "x-forwarded-host: site" in head
    assert "expect" not in head


@run_async
async def test_upstream_content_length_is_kept() -> None:
    upstream = Upstream(writes(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n", b"abc"))
    async with upstream as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"GET /api/y HTTP/1.1\r\n\r\n")
        await until(answered(protocol, transport))
    (reply,) = parse_replies(transport.take())
    assert (reply.status, reply.body, reply.headers["content-length"]) == (201, b"abc", "3")
    assert "transfer-encoding" not in reply.headers


@run_async
async def test_head_relays_the_upstream_length_without_a_body() -> None:
    upstream = Upstream(writes(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", close=False))
    async with upstream as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"HEAD /api/z HTTP/1.1\r\n\r\n")
        await until(answered(protocol, transport))
    data = transport.take()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 1234\r\n" in data
    assert data.endswith(b"\r\n\r\n")
    assert not transport.closed


@run_async
async def test_upstream_failing_after_the_head_closes_the_client_connection() -> None:
    upstream = Upstream(writes(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"partial"))
    async with upstream as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"GET /api/cut HTTP/1.1\r\n\r\n")
        await until(lambda: transport.closed)
    data = transport.take()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\npartial")


@run_async
async def test_upstream_closing_before_the_head_is_502() -> None:
    upstream = Upstream(writes(b"HTTP/1.1 20"))
    async with upstream as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"GET /api/x HTTP/1.1\r\n\r\n")
        await until(answered(protocol, transport))
    (reply,) = parse_replies(transport.take())
    assert reply.status == 502


@run_async
async def test_client_leaving_midway_closes_the_upstream_connection() -> None:
    upstream_closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmore\r\n")
        await writer.drain()
        await reader.read()  # returns at EOF: the proxy closed its side
        upstream_closed.set()

    async with Upstream(script) as url:
        protocol, transport = connect(ReverseProxy(url, ClientIpResolver([])))
        protocol.data_received(b"GET /api/long HTTP/1.1\r\n\r\n")
        await until(lambda: b"4\r\nmore\r\n" in transport.written)
        protocol.connection_lost(ConnectionResetError())
        await asyncio.wait_for(upstream_closed.wait(), 10)
    assert upstream_closed.is_set()
