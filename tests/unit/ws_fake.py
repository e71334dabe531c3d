"""Helpers for the WebSocket tests: a client's frames and a reader of the server's."""

from __future__ import annotations

import os

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
