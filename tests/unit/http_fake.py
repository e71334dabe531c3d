"""A fake transport and helpers to drive tracker.http.HttpProtocol with raw bytes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httptools

from tracker.http import HttpProtocol, Limits, ServerState


class FakeTransport(asyncio.Transport):
    """Collects written bytes and records reading and closing calls."""

    def __init__(self, peer: Any = ("203.0.113.7", 50123)) -> None:
        super().__init__()
        self.peer = peer
        self.protocol: asyncio.BaseProtocol | None = None
        self.written = bytearray()
        self.writes = 0
        self.reading = True
        self.closed = False
        self.aborted = False
        self.high_water: int | None = None
        # Set by connect(): writes the output the server coalesces per loop turn,
        # so that take() sees it without running the loop.
        self.flush: Callable[[], None] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.written += data
        self.writes += 1

    def take(self) -> bytes:
        if self.flush is not None:
            self.flush()
        data = bytes(self.written)
        self.written.clear()
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            # Like a real transport: connection_lost comes on a later loop turn.
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    def get_write_buffer_size(self) -> int:
        return 0

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol


def connect(
    app: Any, limits: Limits | None = None, state: ServerState | None = None, tls: bool = False
) -> tuple[HttpProtocol, FakeTransport]:
    """A protocol connected to a fresh fake transport (call inside a running loop)."""
    state = state or ServerState()
    protocol = HttpProtocol(app, limits or Limits(), state, tls)
    transport = FakeTransport()
    transport.flush = state.write_output
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def parse_replies(data: bytes) -> list[Reply]:
    """Split bytes written by the server into responses (not for HEAD answers)."""
    replies: list[Reply] = []

    class Callbacks:
        current = Reply(0)

        def on_message_begin(self) -> None:
            self.current = Reply(0)

        def on_header(self, name: bytes, value: bytes) -> None:
            self.current.headers[name.decode().lower()] = value.decode("latin-1")

        def on_headers_complete(self) -> None:
            self.current.status = parser.get_status_code()

        def on_body(self, body: bytes) -> None:
            self.current.body += body

        def on_message_complete(self) -> None:
            replies.append(self.current)

    parser = httptools.HttpResponseParser(Callbacks())
    parser.feed_data(data)
    return replies


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test on a fresh asyncio loop (no plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(turns: int = 3) -> None:
    """Let callbacks scheduled with call_soon (and finished tasks) run."""
    for _ in range(turns):
        await asyncio.sleep(0)
