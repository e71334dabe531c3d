"""AnswerStream and exchange against a real local server that writes raw answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tracker.http.client import AnswerStream, AnswerTooLarge, exchange

from .http_fake import run_async

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def answering(*parts: bytes) -> Script:
    """A server side that reads the request head, writes `parts`, then closes."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
        writer.close()

    return script


async def open_stream(script: Script) -> tuple[AnswerStream, asyncio.Server]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return AnswerStream(reader, writer, read_timeout=5.0), server


async def body_of(stream: AnswerStream) -> bytes:
    return b"".join([chunk async for chunk in stream])


@run_async
async def test_chunked_answer_is_read_head_first_then_body() -> None:
    stream, server = await open_stream(answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
        b"3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\n"))
    async with server:
        await stream.read_head()
        assert stream.status == 200
        assert ("X-A", "1") in stream.headers
        assert stream.length is None
        assert await body_of(stream) == b"abcde"
        await stream.aclose()


@run_async
async def test_content_length_answer_and_interim_answers_skipped() -> None:
    stream, server = await open_stream(answering(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nwxyz"))
    async with server:
        await stream.read_head()
        assert stream.status == 201
        assert [name for name, _ in stream.headers] == ["Content-Length"]
        assert stream.length == 4
        assert await body_of(stream) == b"wxyz"
        await stream.aclose()


@run_async
async def test_body_without_length_ends_at_close() -> None:
    stream, server = await open_stream(answering(b"HTTP/1.1 200 OK\r\n\r\nuntil", b" close"))
    async with server:
        await stream.read_head()
        assert await body_of(stream) == b"until close"
        await stream.aclose()


@run_async
async def test_cut_answer_raises_connection_error() -> None:
    stream, server = await open_stream(answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly"))
    async with server:
        await stream.read_head()
        with pytest.raises(ConnectionError):
            await body_of(stream)
        await stream.aclose()


@run_async
async def test_close_before_the_head_raises_connection_error() -> None:
    stream, server = await open_stream(answering(b"HTTP/1.1 200"))
    async with server:
        with pytest.raises(ConnectionError):
            await stream.read_head()
        await stream.aclose()


@run_async
async def test_body_is_read_one_piece_at_a_time() -> None:
    # The server writes its second piece only after the test took the first.
    took_first = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst")
        await took_first.wait()
        writer.write(b"!")
        writer.close()

    stream, server = await open_stream(script)
    async with server:
        await stream.read_head()
        assert await anext(stream) == b"first"
        took_first.set()
        assert await anext(stream) == b"!"
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        await stream.aclose()


@run_async
async def test_exchange_collects_the_answer_and_enforces_its_cap() -> None:
    answer_bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    for cap, expect_error in ((5, False), (4, True)):
        server = await asyncio.start_server(answering(answer_bytes), "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
            if expect_error:
                with pytest.raises(AnswerTooLarge):
                    await exchange(reader, writer, request, cap)
            else:
                answer = await exchange(reader, writer, request, cap)
                assert (answer.status, bytes(answer.body)) == (200, b"hello")
            assert writer.is_closing()
