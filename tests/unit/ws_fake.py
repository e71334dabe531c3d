"""Helpers for the WebSocket tests: a client's frames and a reader of the server's."""

from __future__ import annotations

import base64
import os
import socket

from tests.unit.http_fake import FakeTransport
from tracker.ws.frames import Event, FrameParser, encode_frame


class WsTransport(FakeTransport):
    """The HTTP fake transport plus half-closing, as a TCP transport has."""

    def __init__(self) -> None:
        super().__init__()
        self.eof_written = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof_written, "write after write_eof"
        super().write(data)


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A frame as a client sends it: masked with a random key."""
    return encode_frame(opcode, payload, fin=fin, mask=os.urandom(4))


def server_events(data: bytes) -> list[Event]:
    """The frames a server wrote, as events (server frames are unmasked)."""
    parser = FrameParser(1 << 30, 1 << 30, require_mask=False)
    parser.feed(data)
    events = []
    while (event := parser.next_event()) is not None:
        events.append(event)
    assert parser.buffered == 0, "a partial frame was written"
    return events


class WsClient:
    """A blocking WebSocket client over a real socket: enough of RFC 6455 for tests.

    `headers` are extra request header lines (each ending in CRLF); `extra` is
    sent right after the handshake request, before any answer is read.
    """

    def __init__(self, port: int, path: str, query: str = "", extra: bytes = b"",
                 headers: bytes = b"", timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = FrameParser(1 << 20, 1 << 20, require_mask=False)
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path}{query} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n".encode() + headers + b"\r\n" + extra
        )
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            buffer += chunk
        self.head, _, rest = buffer.partition(b"\r\n\r\n")
        self.parser.feed(rest)

    def send(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        self.sock.sendall(client_frame(opcode, payload, fin))

    def receive(self) -> Event:
        while (event := self.parser.next_event()) is None:
            chunk = self.sock.recv(65536)
            assert chunk, "closed before a frame"
            self.parser.feed(chunk)
        return event

    def at_eof(self) -> bool:
        return self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()
