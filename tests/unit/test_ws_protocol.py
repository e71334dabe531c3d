"""WebSocketProtocol with a fake transport: order, acks, back-pressure, closing, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import lz4.block
import orjson

from tests.unit.http_fake import run_async, settle
from tests.unit.ws_fake import WsTransport, client_frame, server_events
from tracker.http import ServerState
from tracker.ws import CloseCode, CloseError, WebSocketProtocol, WsLimits
from tracker.ws.frames import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, Close, Message, Pong


class Recorder:
    """A message handler that records calls; answers at once or when told."""

    def __init__(self, deferred: bool = False) -> None:
        self.calls: list[tuple[list[Any], bool]] = []
        self.deferred = deferred
        self.futures: list[asyncio.Future[int]] = []

    def __call__(self, items: list[Any], is_batch: bool) -> Any:
        self.calls.append((items, is_batch))
        if not self.deferred:
            return len(items)
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


def connect(
    handler: Any, *, ack: bool = True, server: ServerState | None = None, **limits: Any
) -> tuple[WebSocketProtocol, WsTransport]:
    protocol = WebSocketProtocol(handler, WsLimits(**limits), ack=ack, server=server)
    transport = WsTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


def text(obj: Any) -> bytes:
    return client_frame(OP_TEXT, orjson.dumps(obj))


def acks(transport: WsTransport) -> list[Any]:
    return [orjson.loads(e.data) for e in server_events(transport.take())]


def closed_with(transport: WsTransport) -> int:
    events = server_events(transport.take())
    assert isinstance(events[-1], Close), events
    return events[-1].code


@run_async
async def test_messages_are_handled_and_acked_in_order() -> None:
    handler = Recorder()
    _, transport = connect(handler)
    lz4_body = orjson.dumps([{"en": "c"}, {"en": "d"}])
    binary = len(lz4_body).to_bytes(4, "little") + lz4.block.compress(lz4_body, store_size=False)
    transport.protocol.data_received(
        text({"en": "a"}) + text({"batch": [{"en": "b"}]}) + client_frame(OP_BINARY, binary)
    )
    assert handler.calls == [
        ([{"en": "a"}], False), ([{"en": "b"}], True), ([{"en": "c"}, {"en": "d"}], True)
    ]
    assert acks(transport) == [{"accepted": 1}, {"accepted": 1}, {"accepted": 2}]


@run_async
async def test_without_ack_nothing_is_written() -> None:
    handler = Recorder()
    protocol, transport = connect(handler, ack=False)
    protocol.data_received(text({"en": "a"}))
    assert len(handler.calls) == 1
    assert transport.take() == b""


@run_async
async def test_awaitable_handler_pauses_reading_and_keeps_order() -> None:
    handler = Recorder(deferred=True)
    protocol, transport = connect(handler)
    protocol.data_received(text({"n": 1}) + text({"n": 2}) + client_frame(OP_PING, b"p"))
    # One message at a time: the second waits in the parser, reading is paused.
    assert [c[0] for c in handler.calls] == [[{"n": 1}]]
    assert not transport.reading
    assert protocol.pending == 1
    protocol.data_received(text({"n": 3}))  # bytes read before the pause took effect
    assert len(handler.calls) == 1
    handler.futures[0].set_result(1)
    await settle()
    assert [c[0] for c in handler.calls] == [[{"n": 1}], [{"n": 2}]]
    handler.futures[1].set_result(7)
    await settle()
    assert [c[0] for c in handler.calls] == [[{"n": 1}], [{"n": 2}], [{"n": 3}]]
    handler.futures[2].set_result(0)
    await settle()
    events = server_events(transport.take())
    assert events == [
        Message(False, b'{"accepted":1}'),
        Message(False, b'{"accepted":7}'),
        Pong(b"p"),  # the ping came after message 2, so its pong follows that ack
        Message(False, b'{"accepted":0}'),
    ]
    assert transport.reading
    assert protocol.pending == 0


@run_async
async def test_ping_gets_pong() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(client_frame(OP_PING, b"hello"))
    assert server_events(transport.take()) == [Pong(b"hello")]


@run_async
async def test_client_close_is_echoed_then_tcp_closed() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(text({}) + client_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye"))
    events = server_events(transport.take())
    assert events == [Message(False, b'{"accepted":1}'), Close(1000, "")]
    assert transport.closed


@run_async
async def test_client_close_without_code_gets_empty_close() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(client_frame(OP_CLOSE, b""))
    assert transport.take() == b"\x88\x00"
    assert transport.closed


@run_async
async def test_protocol_error_sends_1002_and_half_closes() -> None:
    handler = Recorder()
    protocol, transport = connect(handler)
    protocol.data_received(b"\x81\x02{}")  # unmasked
    assert closed_with(transport) == CloseCode.PROTOCOL_ERROR
    assert transport.eof_written and not transport.closed
    protocol.data_received(text({"late": 1}))  # dropped: the connection is closing
    assert handler.calls == []
    # Past a framing error the stream cannot be trusted: even a Close is dropped, and
    # the connection ends at the client's EOF (or the close timeout).
    protocol.data_received(client_frame(OP_CLOSE, (1002).to_bytes(2, "big")))
    assert not transport.closed
    assert protocol.eof_received() is None  # the transport closes itself


@run_async
async def test_close_handshake_started_by_the_server_completes_on_clients_close() -> None:
    protocol, transport = connect(Recorder())
    protocol.data_received(client_frame(OP_TEXT, b"{oops"))
    assert closed_with(transport) == CloseCode.INVALID_DATA
    protocol.data_received(client_frame(OP_PING, b"x"))  # no pong after our Close
    assert transport.take() == b""
    protocol.data_received(client_frame(OP_CLOSE, (1007).to_bytes(2, "big")))
    assert transport.closed


@run_async
async def test_oversized_frame_header_is_1009_without_buffering() -> None:
    protocol, transport = connect(Recorder(), max_message_bytes=1000)
    protocol.data_received(bytes([0x81, 0xFE]) + (2000).to_bytes(2, "big") + b"mask" + b"x" * 100)
    assert closed_with(transport) == CloseCode.TOO_BIG
    protocol.data_received(b"x" * 5000)
    assert protocol._parser.buffered == 0


@run_async
async def test_lz4_declaring_2_gb_is_1009() -> None:
    protocol, transport = connect(Recorder(), max_message_bytes=1 << 20)
    payload = (2 << 30).to_bytes(4, "little") + lz4.block.compress(b"{}", store_size=False)
    protocol.data_received(client_frame(OP_BINARY, payload))
    assert closed_with(transport) == CloseCode.TOO_BIG


@run_async
async def test_handler_failure_is_1011_and_close_error_keeps_its_code() -> None:
    def broken(items: list[Any], is_batch: bool) -> int:
        raise RuntimeError("boom")

    protocol, transport = connect(broken)
    protocol.data_received(text({}))
    assert closed_with(transport) == CloseCode.INTERNAL_ERROR

    async def full(items: list[Any], is_batch: bool) -> int:
        raise CloseError(CloseCode.TRY_AGAIN_LATER, "log full")

    protocol, transport = connect(full)
    # The client's Close arrives while the handler works; it completes our close handshake.
    protocol.data_received(text({}) + client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
    await settle()
    events = server_events(transport.take())
    assert events == [Close(CloseCode.TRY_AGAIN_LATER, "log full")]
    assert transport.closed


@run_async
async def test_shutdown_waits_for_the_message_in_hand_then_sends_1001() -> None:
    state = ServerState()
    handler = Recorder(deferred=True)
    protocol, transport = connect(handler, server=state)
    assert protocol in state.connections
    protocol.data_received(text({"n": 1}) + text({"n": 2}))
    assert state.in_flight == 1
    protocol.shutdown()
    assert transport.take() == b""  # not before the message in hand is acknowledged
    handler.futures[0].set_result(1)
    await settle()
    events = server_events(transport.take())
    assert events == [Message(False, b'{"accepted":1}'), Close(1001, "server shutting down")]
    assert len(handler.calls) == 1  # the unacknowledged second message is not handled
    assert transport.eof_written
    protocol.eof_received()
    protocol.connection_lost(None)
    assert protocol not in state.connections


@run_async
async def test_shutdown_when_idle_closes_at_once() -> None:
    protocol, transport = connect(Recorder())
    protocol.shutdown()
    assert closed_with(transport) == CloseCode.GOING_AWAY


@run_async
async def test_upgrade_while_draining_closes_with_1001() -> None:
    state = ServerState()
    state.draining = True
    _, transport = connect(Recorder(), server=state)
    assert closed_with(transport) == CloseCode.GOING_AWAY


@run_async
async def test_idle_timeout_closes_with_1001_then_close_timeout_closes_tcp() -> None:
    protocol, transport = connect(Recorder(), idle_timeout=0.02, close_timeout=0.02)
    protocol.data_received(client_frame(OP_PING, b""))
    transport.take()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if transport.closed:
            break
    assert closed_with(transport) == CloseCode.GOING_AWAY
    assert transport.closed


@run_async
async def test_eof_after_messages_still_acks_them_then_closes() -> None:
    handler = Recorder(deferred=True)
    protocol, transport = connect(handler)
    protocol.data_received(text({"n": 1}) + text({"n": 2}))
    assert protocol.eof_received() is True  # keep the transport: acks are due
    handler.futures[0].set_result(1)
    await settle()
    handler.futures[1].set_result(1)
    await settle()
    assert acks(transport) == [{"accepted": 1}, {"accepted": 1}]
    assert transport.closed


@run_async
async def test_eof_when_idle_lets_the_transport_close() -> None:
    protocol, _ = connect(Recorder())
    assert protocol.eof_received() is None


@run_async
async def test_write_back_pressure_pauses_reading() -> None:
    protocol, transport = connect(Recorder())
    protocol.pause_writing()
    assert not transport.reading
    protocol.resume_writing()
    assert transport.reading


@run_async
async def test_reading_resumed_by_someone_else_while_busy_is_paused_again() -> None:
    # After a deferred upgrade the HTTP layer resumes reading once it handed over.
    handler = Recorder(deferred=True)
    protocol, transport = connect(handler)
    frame = text({"n": 1})
    protocol.data_received(frame)
    transport.resume_reading()
    protocol.data_received(text({"n": 2}))
    assert not transport.reading
    assert len(handler.calls) == 1
