"""StreamingResponse through HttpProtocol with a fake transport: framing, flow
control, disconnects, pipelining, HEAD and HTTP/1.0."""

from __future__ import annotations

import asyncio

from tracker.http import HttpDate, Request, Response, ServerState, StreamingResponse

from .http_fake import connect, parse_replies, run_async, settle

DATE = b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"


def fixed_state() -> ServerState:
    state = ServerState()
    state.clock = HttpDate(lambda: 784111777.0)
    return state


class Body:
    """An async iterator the test feeds chunk by chunk; records what was asked."""

    def __init__(self, *chunks: bytes) -> None:
        self.queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
        for chunk in chunks:
            self.queue.put_nowait(chunk)
        self.asked = 0  # __anext__ calls
        self.closed = False

    def end(self) -> None:
        self.queue.put_nowait(None)

    def __aiter__(self) -> Body:
        return self

    async def __anext__(self) -> bytes:
        self.asked += 1
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, Exception):
            raise item
        return item

    async def aclose(self) -> None:
        self.closed = True


class Streams:
    """Answers /stream with a StreamingResponse over `body`, anything else with 200 JSON."""

    def __init__(self, body: Body, length: int | None = None, awaited: bool = False) -> None:
        self.body = body
        self.length = length
        self.awaited = awaited
        self.future: asyncio.Future[StreamingResponse] | None = None

    def handle(self, request: Request) -> object:
        if request.path != "/stream":
            return Response.json(200, {"path": request.path})
        reply = StreamingResponse(200, [("content-type", "text/plain")], self.body, self.length)
        if not self.awaited:
            return reply
        self.future = asyncio.get_running_loop().create_future()
        self.future.set_result(reply)
        return self.future


@run_async
async def test_chunks_are_written_in_order_with_exact_chunked_framing() -> None:
    body = Body(b"hello", b"", b"wonderful world")
    protocol, transport = connect(Streams(body), state=fixed_state())
    protocol.data_received(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
    await settle()
    assert transport.take() == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                                b"transfer-encoding: chunked\r\n" + DATE + b"\r\n"
                                b"5\r\nhello\r\nf\r\nwonderful world\r\n")
    assert protocol.pending == 1  # still answering
    body.end()
    await settle()
    assert transport.take() == b"0\r\n\r\n"
    assert body.closed
    assert protocol.pending == 0
    assert not transport.closed


@run_async
async def test_known_length_goes_out_as_content_length_without_chunk_framing() -> None:
    body = Body(b"abc", b"defg")
    body.end()
    protocol, transport = connect(Streams(body, length=7), state=fixed_state())
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.take() == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                                b"content-length: 7\r\n" + DATE + b"\r\nabcdefg")
    assert not transport.closed
    assert body.closed


@run_async
async def test_a_body_shorter_than_its_length_ends_the_connection() -> None:
    body = Body(b"abc")
    body.end()
    protocol, transport = connect(Streams(body, length=10))
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.take().endswith(b"\r\n\r\nabc")
    assert transport.closed
    assert body.closed


@run_async
async def test_write_pause_holds_the_iterator_until_resumed() -> None:
    body = Body(b"first")
    protocol, transport = connect(Streams(body))
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.take().endswith(b"5\r\nfirst\r\n")
    protocol.pause_writing()  # the client stopped reading
    body.queue.put_nowait(b"second")  # taken by the pending __anext__, then it waits
    body.queue.put_nowait(b"third")
    await settle(10)
    asked = body.asked
    assert transport.take() == b"6\r\nsecond\r\n"
    assert body.queue.qsize() == 1  # "third" not asked for while paused
    protocol.resume_writing()
    await settle()
    assert body.asked > asked
    assert transport.take() == b"5\r\nthird\r\n"
    body.end()
    await settle()
    assert transport.take() == b"0\r\n\r\n"


@run_async
async def test_client_leaving_midway_stops_and_closes_the_body() -> None:
    body = Body(b"part")
    protocol, transport = connect(Streams(body))
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.take().endswith(b"4\r\npart\r\n")
    protocol.connection_lost(ConnectionResetError())
    await settle()
    assert body.closed
    body.queue.put_nowait(b"late")
    await settle()
    assert body.queue.qsize() == 1  # never asked for again
    assert transport.take() == b""


@run_async
async def test_a_failing_body_ends_the_connection_without_the_last_chunk() -> None:
    body = Body(b"part", OSError("upstream reset"))
    protocol, transport = connect(Streams(body))
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    data = transport.take()
    assert data.endswith(b"4\r\npart\r\n")
    assert b"0\r\n\r\n" not in data
    assert transport.closed
    assert body.closed


@run_async
async def test_pipelined_requests_around_a_stream_keep_their_order() -> None:
    body = Body(b"streamed")
    protocol, transport = connect(Streams(body, awaited=True))
    protocol.data_received(b"GET /before HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\n\r\n"
                           b"GET /next HTTP/1.1\r\n\r\n")
    await settle()
    assert protocol.pending == 2
    body.end()
    await settle()
    protocol.data_received(b"GET /after HTTP/1.1\r\n\r\n")
    replies = parse_replies(transport.take())
    assert [r.body for r in replies] == [b'{"path":"/before"}', b"streamed",
                                         b'{"path":"/next"}', b'{"path":"/after"}']
    assert replies[1].headers["transfer-encoding"] == "chunked"
    assert protocol.pending == 0
    assert not transport.closed


@run_async
async def test_head_gets_the_head_only_and_the_body_is_never_read() -> None:
    body = Body(b"never")
    protocol, transport = connect(Streams(body, length=5), state=fixed_state())
    protocol.data_received(b"HEAD /stream HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    await settle()
    data = transport.take()
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
            + DATE + b"\r\n")
    assert data.startswith(head)
    assert parse_replies(data[len(head):])[0].body == b'{"path":"/next"}'
    assert body.asked == 0
    assert body.closed


@run_async
async def test_http10_without_length_ends_the_body_by_closing() -> None:
    body = Body(b"old", b"client")
    body.end()
    protocol, transport = connect(Streams(body), state=fixed_state())
    protocol.data_received(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await settle()
    assert transport.take() == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                                b"connection: close\r\n" + DATE + b"\r\noldclient")
    assert transport.closed


@run_async
async def test_connection_close_request_closes_after_the_stream() -> None:
    body = Body(b"x")
    body.end()
    protocol, transport = connect(Streams(body))
    protocol.data_received(b"GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n")
    await settle()
    (reply,) = parse_replies(transport.take())
    assert reply.body == b"x" and reply.headers["connection"] == "close"
    assert transport.closed


@run_async
async def test_awaited_stream_for_a_client_that_left_is_closed_unread() -> None:
    body = Body(b"unread")
    loop = asyncio.get_running_loop()
    future: asyncio.Future[StreamingResponse] = loop.create_future()

    class Later:
        def handle(self, request: Request) -> object:
            return future

    protocol, transport = connect(Later())
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    protocol.connection_lost(None)
    future.set_result(StreamingResponse(200, [], body))
    await settle()
    assert body.closed
    assert body.asked == 0
    assert transport.take() == b""


@run_async
async def test_drain_during_a_stream_closes_once_it_ends() -> None:
    body = Body(b"data")
    state = ServerState()
    protocol, transport = connect(Streams(body), state=state)
    protocol.data_received(b"GET /stream HTTP/1.1\r\n\r\n")
    await settle()
    state.draining = True
    protocol.shutdown()
    assert not transport.closed  # still streaming
    body.end()
    await settle()
    (reply,) = parse_replies(transport.take())
    assert reply.body == b"data"
    assert transport.closed
