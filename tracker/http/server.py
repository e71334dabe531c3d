"""Listening for HTTP connections and draining them on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl as ssl_module
from collections.abc import Callable

from tracker.http.limits import Limits
from tracker.http.protocol import App, HttpProtocol
from tracker.http.state import ServerState

_BACKLOG = 2048


class HttpServer:
    """A listening server and the state shared by its connections."""

    def __init__(self, server: asyncio.Server, state: ServerState) -> None:
        self._server = server
        self.state = state

    @property
    def connections(self) -> int:
        return len(self.state.connections)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets)

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting, let received requests be answered, then close.

        Idle keep-alive connections close at once; a connection still
        receiving or answering a request closes after that response is written
        and flushed. Whatever is left after ``timeout`` seconds is aborted.
        """
        self._server.close()
        state = self.state
        state.draining = True
        for conn in list(state.connections):
            conn.shutdown()
        if not await state.wait_empty(timeout):
            for conn in list(state.connections):
                conn.abort()
            await state.wait_empty(1.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._server.wait_closed()


async def start_server(
    app: App,
    host: str,
    port: int,
    limits: Limits,
    *,
    reuse_port: bool,
    ssl: ssl_module.SSLContext | None = None,
    sock: socket.socket | None = None,
    before_write: Callable[[], None] | None = None,
) -> HttpServer:
    """Listen on ``host:port`` (or on ``sock``); ``host`` "" means every interface.

    ``before_write``: see ServerState.
    """
    loop = asyncio.get_running_loop()
    state = ServerState(before_write)
    tls = ssl is not None

    def factory() -> HttpProtocol:
        return HttpProtocol(app, limits, state, tls)

    if sock is not None:
        server = await loop.create_server(factory, sock=sock, ssl=ssl, backlog=_BACKLOG)
    else:
        server = await loop.create_server(
            factory, host or None, port, ssl=ssl, backlog=_BACKLOG, reuse_port=reuse_port
        )
    return HttpServer(server, state)
