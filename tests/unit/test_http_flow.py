"""Flow control, the pipelining bound, the upgrade hook and draining, with a fake transport."""

from __future__ import annotations

import asyncio

from tracker.http import Limits, Request, Response, ServerState, Upgrade

from .http_fake import connect, parse_replies, run_async, settle


class Held:
    """Answers each request with a future the test resolves."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[Response]] = []

    def handle(self, request: Request) -> object:
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


@run_async
async def test_write_pause_stops_reading_until_resumed() -> None:
    protocol, transport = connect(Held(), Limits(high_water=4096))
    assert transport.high_water == 4096
    protocol.pause_writing()
    assert not transport.reading
    protocol.resume_writing()
    assert transport.reading


@run_async
async def test_reading_pauses_beyond_max_pipelined_and_resumes() -> None:
    app = Held()
    protocol, transport = connect(app, Limits(max_pipelined=2))
    protocol.data_received(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    assert transport.reading  # one in the app, one waiting
    protocol.data_received(b"GET /3 HTTP/1.1\r\n\r\n")
    assert not transport.reading
    assert protocol.pending == 3
    app.futures[0].set_result(Response.empty(200))
    await settle()
    assert transport.reading
    for _ in range(2):
        app.futures[-1].set_result(Response.empty(201))
        await settle()
    assert [r.status for r in parse_replies(transport.take())] == [200, 201, 201]


@run_async
async def test_upgrade_hands_the_transport_over() -> None:
    received: list[bytes] = []

    class Next(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            received.append(data)

    made: list[Next] = []

    def factory() -> Next:
        made.append(Next())
        return made[-1]

    class App:
        def handle(self, request: Request) -> object:
            if request.headers.get("upgrade") == "websocket":
                switching = Response(101, [("upgrade", "websocket"), ("connection", "Upgrade")])
                return Upgrade(switching, factory)
            return Response.empty()

    state = ServerState()
    protocol, transport = connect(App(), state=state)
    protocol.data_received(
        b"GET /first HTTP/1.1\r\n\r\n"
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME1"
    )
    data = transport.take()
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n" in data
    assert transport.protocol is made[0]
    assert made[0].transport is transport
    assert received == [b"FRAME1"]
    assert state.connections == set()
    assert not transport.closed


@run_async
async def test_declined_upgrade_is_answered_then_closed() -> None:
    class App:
        def handle(self, request: Request) -> Response:
            return Response.error(404, "no websocket here")

    protocol, transport = connect(App())
    protocol.data_received(
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"
    )
    (reply,) = parse_replies(transport.take())
    assert reply.status == 404
    assert reply.headers["connection"] == "close"
    assert transport.closed


@run_async
async def test_drain_closes_idle_and_finishes_busy_connections() -> None:
    state = ServerState()
    app = Held()
    _, idle_transport = connect(app, state=state)
    busy, busy_transport = connect(app, state=state)
    busy.data_received(b"GET /slow HTTP/1.1\r\n\r\n")
    assert state.in_flight == 1
    state.draining = True
    for conn in list(state.connections):
        conn.shutdown()
    assert idle_transport.closed
    assert not busy_transport.closed
    app.futures[0].set_result(Response.empty())
    await settle()
    (reply,) = parse_replies(busy_transport.take())
    assert reply.status == 204
    assert reply.headers["connection"] == "close"
    assert busy_transport.closed
    await settle()
    assert state.connections == set()


@run_async
async def test_drain_answers_every_pipelined_request_received() -> None:
    state = ServerState()
    app = Held()
    protocol, transport = connect(app, state=state)
    protocol.data_received(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    state.draining = True
    protocol.shutdown()
    app.futures[0].set_result(Response.empty())
    await settle()
    app.futures[1].set_result(Response.empty())
    await settle()
    replies = parse_replies(transport.take())
    assert [r.headers.get("connection") for r in replies] == [None, "close"]
    assert transport.closed


@run_async
async def test_answer_for_a_client_that_left_is_dropped() -> None:
    app = Held()
    protocol, transport = connect(app)
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")
    protocol.connection_lost(None)
    app.futures[0].set_result(Response.empty())
    await settle()
    assert transport.written == b""


@run_async
async def test_client_that_stops_reading_is_aborted() -> None:
    protocol, transport = connect(Held(), Limits(idle_timeout=0.05))
    protocol.pause_writing()  # our responses pile up in the transport
    for _ in range(100):
        if transport.closed:
            break
        await asyncio.sleep(0.02)
    assert transport.aborted


@run_async
async def test_upgrade_decided_later_keeps_bytes_that_arrived_meanwhile() -> None:
    received: list[bytes] = []

    class Next(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.append(data)

    loop = asyncio.get_running_loop()
    decided: asyncio.Future[Upgrade] = loop.create_future()

    class App:
        def handle(self, request: Request) -> object:
            return decided

    protocol, transport = connect(App())
    protocol.data_received(
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nA"
    )
    assert not transport.reading
    protocol.data_received(b"B")
    decided.set_result(Upgrade(Response(101, [("upgrade", "websocket")]), Next))
    await settle()
    assert transport.take().startswith(b"HTTP/1.1 101 ")
    assert isinstance(transport.protocol, Next)
    assert received == [b"AB"]
    assert transport.reading
