"""/tr/v1/ws through `tracker run` with 2 workers, on each store: acks, LZ4, and the size
and JSON limits."""

from __future__ import annotations

import json
import signal
import struct
import time

import lz4.block
import pytest

from tests.integration.stores import StoreUnderTest
from tests.unit import ws_fake
from tracker.ws.frames import OP_BINARY, OP_TEXT, Close, Message

pytestmark = pytest.mark.integration


class WsClient(ws_fake.WsClient):
    """The shared test client, on /tr/v1/ws, with an optional Origin."""

    def __init__(self, port: int, query: str = "", origin: str | None = None):
        headers = f"Origin: {origin}\r\n".encode() if origin else b""
        super().__init__(port, "/tr/v1/ws", query, headers=headers, timeout=10)


def _lz4(doc: object) -> bytes:
    raw = json.dumps(doc).encode()
    return struct.pack("<I", len(raw)) + lz4.block.compress(raw, store_size=False)


def test_messages_are_acked_after_the_log_and_stored(tracker_factory,
                                                     store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, Notify=store.notify).start()
    sent = 0
    for _ in range(3):  # several connections: both workers take some
        ws = WsClient(t.port, "?ack=1")
        assert ws.head.startswith(b"HTTP/1.1 101")
        ws.send(OP_TEXT, json.dumps({"ename": "ws_text"}).encode())
        ack = ws.receive()
        assert isinstance(ack, Message) and json.loads(ack.data) == {"accepted": 1}
        ws.send(OP_BINARY, _lz4({"batch": [{"ename": "ws_lz4", "score": i} for i in range(5)]}))
        ack = ws.receive()
        assert json.loads(ack.data) == {"accepted": 5}
        ws.close()
        sent += 6
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename IN ('ws_text', 'ws_lz4')") \
        == [(sent,)]
    # No cookies over a socket: the events of one connection share one visitor and session.
    assert store.rows(t, "SELECT count(DISTINCT vid), count(DISTINCT sid) FROM {events} "
                         "WHERE ename IN ('ws_text', 'ws_lz4')") == [(3, 3)]


def test_each_message_gets_its_own_server_time(tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, Notify=store.notify).start()
    ws = WsClient(t.port, "?ack=1")
    ws.send(OP_TEXT, b'{"ename":"first"}')
    ws.receive()
    time.sleep(0.3)
    ws.send(OP_TEXT, b'{"ename":"second"}')
    ws.receive()
    ws.close()
    assert t.stop() == 0
    ((first, last),) = store.rows(t, "SELECT min(created_at), max(created_at) FROM {events}")
    assert last - first >= 250  # ms


def test_lz4_bomb_and_bad_json_close_and_the_server_is_unaffected(
        tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, MaxBodyBytes=65536, Notify=store.notify).start()
    ws = WsClient(t.port, "?ack=1")
    # A frame declaring 2 GB of JSON: refused from its 4-byte header alone.
    ws.send(OP_BINARY, struct.pack("<I", 2 << 30) + b"\x00" * 64)
    event = ws.receive()
    assert isinstance(event, Close) and event.code == 1009
    ws.close()
    ws = WsClient(t.port)
    ws.send(OP_TEXT, b"{not json")
    event = ws.receive()
    assert isinstance(event, Close) and event.code == 1007
    ws.close()
    assert t.request("GET", "/ping")[2] == b"pong"
    ws = WsClient(t.port, "?ack=1")
    ws.send(OP_TEXT, b'[{"ename":"after_bomb"}]')
    assert json.loads(ws.receive().data) == {"accepted": 1}
    ws.close()
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'after_bomb'") == [(1,)]


def test_origins_connection_limit_and_shutdown(tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, MaxConnections=2, AllowOrigin=["https://shop.example"],
                        Notify=store.notify).start()
    # Only the configured origin may open a socket.
    refused = WsClient(t.port, origin="https://evil.example")
    assert refused.head.startswith(b"HTTP/1.1 403")
    refused.close()
    # Sockets count against MaxConnections (2 per worker, 2 workers): of five
    # kept open, at most four get in and at least one is refused with 503.
    opened, refusals = [], 0
    for _ in range(5):
        ws = WsClient(t.port, "?ack=1", origin="https://shop.example")
        if ws.head.startswith(b"HTTP/1.1 101"):
            opened.append(ws)
        else:
            assert ws.head.startswith(b"HTTP/1.1 503"), ws.head
            refusals += 1
            ws.close()
    assert len(opened) <= 4 and refusals >= 1
    for ws in opened:  # every socket that got in works
        ws.send(OP_TEXT, b'{"ename":"ws_limit"}')
        assert json.loads(ws.receive().data) == {"accepted": 1}
    # Shutdown: every open socket gets a close frame 1001 (going away), then EOF.
    t.proc.send_signal(signal.SIGTERM)
    for ws in opened:
        event = ws.receive()
        assert isinstance(event, Close) and event.code == 1001
        ws.close()
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'ws_limit'") == [
        (len(opened),)]
