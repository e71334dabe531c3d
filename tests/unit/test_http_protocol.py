"""HttpProtocol driven with raw bytes through a fake transport: the basics."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from tracker.http import HttpProtocol, Limits, PrebuiltResponse, Request, Response, ServerState

from .http_fake import FakeTransport, connect, parse_replies, run_async, settle


class Echo:
    """Answers every request with its parsed fields as JSON."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        return Response.json(
            200,
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body": request.body.decode(),
            },
        )


@run_async
async def test_simple_get() -> None:
    app = Echo()
    protocol, transport = connect(app)
    protocol.data_received(
        b"GET /tr/v1/a%20b?x=1&y=%2F HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n"
    )
    (reply,) = parse_replies(transport.take())
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert "date" in reply.headers
    assert "connection" not in reply.headers
    assert orjson.loads(reply.body)["path"] == "/tr/v1/a%20b"
    request = app.requests[0]
    assert request.method == "GET"
    assert request.query == "x=1&y=%2F"
    assert request.headers == {"host": "example.com", "user-agent": "t/1"}
    assert request.peer_ip == "203.0.113.7"
    assert request.tls is False
    assert request.keep_alive is True
    assert request.http_version == "1.1"
    assert not transport.closed


@run_async
async def test_repeated_headers_are_joined() -> None:
    app = Echo()
    protocol, _ = connect(app)
    protocol.data_received(
        b"GET / HTTP/1.1\r\nAccept: a\r\nX-F: 1\r\nCookie: a=1\r\nACCEPT: b\r\n"
        b"Cookie: b=2\r\nX-F: 1\r\nX-Pad: v  \r\n\r\n"
    )
    headers = app.requests[0].headers
    assert headers["accept"] == "a, b"
    assert headers["x-f"] == "1, 1"
    assert headers["cookie"] == "a=1; b=2"
    assert headers["x-pad"] == "v"
    assert app.requests[0].cookie("b") == "2"


@run_async
async def test_request_split_across_reads() -> None:
    app = Echo()
    protocol, transport = connect(app)
    raw = b"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    for i in range(len(raw)):
        protocol.data_received(raw[i : i + 1])
    (reply,) = parse_replies(transport.take())
    assert orjson.loads(reply.body) == {
        "method": "POST",
        "path": "/p",
        "query": "q",
        "body": "hello",
    }


@run_async
async def test_post_chunked_body() -> None:
    app = Echo()
    protocol, transport = connect(app)
    protocol.data_received(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    protocol.data_received(b"6\r\n world\r\n0\r\n\r\n")
    (reply,) = parse_replies(transport.take())
    assert orjson.loads(reply.body)["body"] == "hello world"


@run_async
async def test_two_requests_in_one_read_answered_in_order_in_one_write() -> None:
    app = Echo()
    protocol, transport = connect(app)
    protocol.data_received(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    replies = parse_replies(transport.take())
    assert [orjson.loads(r.body)["path"] for r in replies] == ["/1", "/2"]
    assert transport.writes == 1
    assert not transport.closed


@run_async
async def test_pipelined_responses_wait_for_an_awaitable_answer() -> None:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[Response] = loop.create_future()

    class App:
        def handle(self, request: Request) -> object:
            if request.path == "/slow":
                return first
            return Response.json(200, {"path": request.path})

    protocol, transport = connect(App())
    protocol.data_received(b"GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n")
    await settle()
    assert transport.written == b""
    assert protocol.pending == 2
    first.set_result(Response.json(200, {"path": "/slow"}))
    await settle()
    replies = parse_replies(transport.take())
    assert [orjson.loads(r.body)["path"] for r in replies] == ["/slow", "/fast"]
    assert protocol.pending == 0
    protocol.data_received(b"GET /again HTTP/1.1\r\n\r\n")
    assert orjson.loads(parse_replies(transport.take())[0].body)["path"] == "/again"


@run_async
async def test_coroutine_answer() -> None:
    class App:
        async def handle(self, request: Request) -> Response:
            await asyncio.sleep(0)
            return Response.json(202, {"ok": True})

    protocol, transport = connect(App())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    await settle(5)
    (reply,) = parse_replies(transport.take())
    assert reply.status == 202


@run_async
async def test_app_exception_is_500_without_its_text(caplog: pytest.LogCaptureFixture) -> None:
    class App:
        def handle(self, request: Request) -> Response:
            if request.path == "/boom":
                raise RuntimeError("secret database password 42")
            return Response.empty()

    protocol, transport = connect(App())
    with caplog.at_level(logging.ERROR, logger="tracker.http"):
        protocol.data_received(b"GET /boom HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n")
    data = transport.take()
    assert b"secret" not in data
    assert b"Traceback" not in data
    replies = parse_replies(data)
    assert [r.status for r in replies] == [500, 204]
    assert orjson.loads(replies[0].body) == {"error": "internal error"}
    assert "secret database password 42" in caplog.text  # logged with its traceback
    assert not transport.closed


@run_async
async def test_async_app_exception_is_500_without_its_text() -> None:
    class App:
        async def handle(self, request: Request) -> Response:
            raise ValueError("internal detail xyz")

    protocol, transport = connect(App())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    await settle(5)
    data = transport.take()
    assert b"xyz" not in data
    assert parse_replies(data)[0].status == 500


@run_async
async def test_bad_header_value_from_app_is_500_not_split_response() -> None:
    class App:
        def handle(self, request: Request) -> Response:
            return Response(302, [("location", "/x\r\nset-cookie: evil=1")])

    protocol, transport = connect(App())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    data = transport.take()
    assert b"evil" not in data
    assert parse_replies(data)[0].status == 500


@run_async
async def test_head_response_has_no_body() -> None:
    class App:
        def handle(self, request: Request) -> Response:
            return Response.raw(200, "text/plain", b"twelve bytes")

    protocol, transport = connect(App())
    protocol.data_received(b"HEAD /x HTTP/1.1\r\n\r\n")
    data = transport.take()
    assert b"content-length: 12\r\n" in data
    assert data.endswith(b"\r\n\r\n")
    assert b"twelve" not in data


@run_async
async def test_connection_close_is_honoured_and_later_bytes_ignored() -> None:
    app = Echo()
    protocol, transport = connect(app)
    protocol.data_received(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    replies = parse_replies(transport.take())
    assert [r.status for r in replies] == [200]
    assert replies[0].headers["connection"] == "close"
    assert transport.closed
    assert [r.path for r in app.requests] == ["/a"]


@run_async
async def test_http10_closes_unless_keep_alive_asked() -> None:
    protocol, transport = connect(Echo())
    protocol.data_received(b"GET / HTTP/1.0\r\n\r\n")
    assert parse_replies(transport.take())[0].headers["connection"] == "close"
    assert transport.closed

    protocol, transport = connect(Echo())
    protocol.data_received(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert parse_replies(transport.take())[0].headers["connection"] == "keep-alive"
    assert not transport.closed


@run_async
async def test_eof_after_request_answers_then_closes() -> None:
    loop = asyncio.get_running_loop()
    later: asyncio.Future[Response] = loop.create_future()

    class App:
        def handle(self, request: Request) -> object:
            return later

    protocol, transport = connect(App())
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert protocol.eof_received() is True  # keep the transport open to answer
    later.set_result(Response.empty())
    await settle()
    assert parse_replies(transport.take())[0].status == 204
    assert transport.closed


@run_async
async def test_prebuilt_and_bytes_replies() -> None:
    state = ServerState()
    prebuilt = PrebuiltResponse(Response.empty(204, [("x-k", "v")]))
    raw = Response.raw(200, "text/plain", b"ok").encode(True)

    class App:
        def handle(self, request: Request) -> object:
            return prebuilt if request.path == "/p" else raw

    protocol, transport = connect(App(), state=state)
    protocol.data_received(b"GET /p HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    replies = parse_replies(transport.take())
    assert [(r.status, r.headers.get("x-k")) for r in replies] == [(204, "v"), (200, None)]
    assert replies[1].body == b"ok"
    assert state.responses_by_class()["2xx"] == 2
    assert state.requests_total == 2

    # Not kept alive: the bytes are written with a connection line, then the
    # connection closes.
    protocol.data_received(b"GET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert transport.take() == raw.replace(b"OK\r\n", b"OK\r\nconnection: close\r\n", 1)
    assert transport.closed


@run_async
async def test_bytes_replies_that_name_their_connection_are_left_as_they_are() -> None:
    raw = Response.raw(200, "text/plain", b"connection: x").encode(False)
    assert b"connection: close" in raw

    class App:
        def handle(self, request: Request) -> object:
            return raw

    protocol, transport = connect(App())
    protocol.data_received(b"GET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert transport.take() == raw
    assert transport.closed


@run_async
async def test_absolute_form_and_fragment_targets() -> None:
    app = Echo()
    protocol, _ = connect(app)
    protocol.data_received(
        b"GET http://h.example/a/b?c=1 HTTP/1.1\r\n\r\n"
        b"GET http://h.example?z HTTP/1.1\r\n\r\n"
        b"OPTIONS * HTTP/1.1\r\n\r\n"
    )
    assert [(r.path, r.query) for r in app.requests] == [("/a/b", "c=1"), ("/", "z"), ("*", "")]


@run_async
async def test_tls_flag_and_ipv4_mapped_peer() -> None:
    app = Echo()
    protocol, transport = connect(app, tls=True)
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert app.requests[0].tls is True

    protocol = HttpProtocol(app, Limits(), ServerState())
    transport = FakeTransport(peer=("::ffff:198.51.100.9", 1, 0, 0))
    transport.protocol = protocol
    protocol.connection_made(transport)
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    assert app.requests[-1].peer_ip == "198.51.100.9"
