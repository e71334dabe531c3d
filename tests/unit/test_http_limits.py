"""Size limits, malformed input, overload and timeouts of HttpProtocol."""

from __future__ import annotations

import asyncio

import orjson

from tracker.http import Limits, Request, Response, ServerState

from .http_fake import connect, parse_replies, run_async, settle


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        return Response.empty()


def single_error(data: bytes) -> tuple[int, dict[str, str], str]:
    (reply,) = parse_replies(data)
    return reply.status, reply.headers, orjson.loads(reply.body)["error"]


@run_async
async def test_body_over_limit_by_content_length() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_body_bytes=1000))
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n")
    status, headers, message = single_error(transport.take())
    assert status == 413
    assert headers["connection"] == "close"
    assert message
    assert transport.closed
    assert app.requests == []


@run_async
async def test_body_at_limit_is_accepted() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_body_bytes=10))
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
    assert parse_replies(transport.take())[0].status == 204
    assert app.requests[0].body == b"0123456789"


@run_async
async def test_chunked_body_over_limit_stops_while_streaming() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_body_bytes=1000))
    protocol.data_received(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"190\r\n" + b"x" * 400 + b"\r\n"  # 400 bytes per chunk
    protocol.data_received(chunk)
    protocol.data_received(chunk)
    assert transport.written == b""
    protocol.data_received(chunk)  # 1200 > 1000: refused before the body ends
    status, _, _ = single_error(transport.take())
    assert status == 413
    assert transport.closed
    protocol.data_received(chunk + b"0\r\n\r\n")  # more bytes change nothing
    assert app.requests == []
    assert transport.written == b""


@run_async
async def test_url_too_long() -> None:
    protocol, transport = connect(Recorder(), Limits(max_url_bytes=100))
    protocol.data_received(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\n\r\n")
    assert single_error(transport.take())[0] == 414
    assert transport.closed


@run_async
async def test_url_too_long_in_pieces() -> None:
    protocol, transport = connect(Recorder(), Limits(max_url_bytes=100))
    protocol.data_received(b"GET /")
    for _ in range(5):
        protocol.data_received(b"b" * 30)
    assert single_error(transport.take())[0] == 414


@run_async
async def test_headers_too_large() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_header_bytes=1000))
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 50) for i in range(30))
    protocol.data_received(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")
    assert single_error(transport.take())[0] == 431
    assert transport.closed
    assert app.requests == []


@run_async
async def test_one_endless_header_line_is_cut_off() -> None:
    protocol, transport = connect(Recorder(), Limits(max_header_bytes=1000))
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Long: ")
    for _ in range(20):
        if transport.closed:
            break
        protocol.data_received(b"v" * 100)  # never ends the line
    assert single_error(transport.take())[0] == 431


@run_async
async def test_headers_under_limit_in_many_reads_are_fine() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_header_bytes=1000))
    raw = b"GET / HTTP/1.1\r\n" + b"X-A: " + b"v" * 500 + b"\r\n\r\n"
    for i in range(0, len(raw), 7):
        protocol.data_received(raw[i : i + 7])
    assert parse_replies(transport.take())[0].status == 204


@run_async
async def test_over_max_connections_answers_503_and_closes() -> None:
    state = ServerState()
    limits = Limits(max_connections=1)
    first, first_transport = connect(Recorder(), limits, state)
    second, second_transport = connect(Recorder(), limits, state)
    second.data_received(b"GET / HTTP/1.1\r\n\r\n")
    status, headers, _ = single_error(second_transport.take())
    assert status == 503
    assert headers["retry-after"] == "1"
    assert second_transport.closed
    assert state.connections_rejected == 1
    first.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert parse_replies(first_transport.take())[0].status == 204
    await settle()
    assert state.connections == {first}


@run_async
async def test_malformed_request_is_400_and_closes() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n")
    status, headers, message = single_error(transport.take())
    assert status == 400
    assert message.startswith("malformed request")
    assert headers["connection"] == "close"
    assert transport.closed


@run_async
async def test_garbage_after_good_request_answers_both_in_order() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n\x00\x01garbage\r\n\r\n")
    assert [r.status for r in parse_replies(transport.take())] == [204, 400]
    assert transport.closed


@run_async
async def test_error_waits_for_a_pending_awaitable_answer() -> None:
    loop = asyncio.get_running_loop()
    later: asyncio.Future[Response] = loop.create_future()

    class App:
        def handle(self, request: Request) -> object:
            return later

    protocol, transport = connect(App())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\nNOT HTTP\r\n\r\n")
    await settle()
    assert transport.written == b""
    later.set_result(Response.empty())
    await settle()
    assert [r.status for r in parse_replies(transport.take())] == [204, 400]
    assert transport.closed


@run_async
async def test_expect_continue_is_answered_before_the_body() -> None:
    app = Recorder()
    protocol, transport = connect(app, Limits(max_body_bytes=100))
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    assert transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(b"hello")
    assert parse_replies(transport.take())[0].status == 204
    assert app.requests[0].body == b"hello"


@run_async
async def test_expect_continue_over_limit_gets_413_without_100() -> None:
    protocol, transport = connect(Recorder(), Limits(max_body_bytes=100))
    protocol.data_received(
        b"POST / HTTP/1.1\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n"
    )
    data = transport.take()
    assert b"100 Continue" not in data
    assert single_error(data)[0] == 413


@run_async
async def test_header_timeout_closes_a_partial_head() -> None:
    protocol, transport = connect(Recorder(), Limits(header_timeout=0.05, idle_timeout=60))
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: exa")
    for _ in range(100):
        if transport.closed:
            break
        await asyncio.sleep(0.02)
        protocol.data_received(b"m")  # trickling bytes must not extend the deadline
    assert transport.closed
    assert transport.written == b""  # no 408, just closed


@run_async
async def test_idle_timeout_closes_an_idle_keep_alive_connection() -> None:
    state = ServerState()
    protocol, transport = connect(Recorder(), Limits(idle_timeout=0.05), state)
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert parse_replies(transport.take())[0].status == 204
    for _ in range(100):
        if transport.closed:
            break
        await asyncio.sleep(0.02)
    assert transport.closed
    await settle()
    assert state.connections == set()


@run_async
async def test_slow_body_times_out() -> None:
    protocol, transport = connect(Recorder(), Limits(idle_timeout=0.05, header_timeout=60))
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
    for _ in range(100):
        if transport.closed:
            break
        await asyncio.sleep(0.02)
    assert transport.closed


@run_async
async def test_no_idle_timeout_while_the_app_works() -> None:
    loop = asyncio.get_running_loop()
    later: asyncio.Future[Response] = loop.create_future()

    class App:
        def handle(self, request: Request) -> object:
            return later

    protocol, transport = connect(App(), Limits(idle_timeout=0.02))
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    await asyncio.sleep(0.1)
    assert not transport.closed
    later.set_result(Response.empty())
    await settle()
    assert parse_replies(transport.take())[0].status == 204
