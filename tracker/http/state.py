"""What a server's connections share: the live set, counters, the drain flag."""

from __future__ import annotations

import asyncio
from typing import Any

from tracker.http.response import HttpDate


class ServerState:
    """Shared by every connection of one listening server (one event loop)."""

    def __init__(self) -> None:
        self.connections: set[Any] = set()  # live HttpProtocol instances
        self.connections_total = 0
        self.connections_rejected = 0  # refused over max_connections
        self.requests_total = 0  # requests handed to the application
        self.responses = [0] * 6  # index: status // 100
        self.draining = False
        self.clock = HttpDate()
        self._emptied: asyncio.Event | None = None

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (summed when asked, not per request)."""
        return sum(conn.pending for conn in self.connections)

    def responses_by_class(self) -> dict[str, int]:
        return {f"{i}xx": n for i, n in enumerate(self.responses) if i}

    def add(self, conn: Any) -> None:
        self.connections.add(conn)
        self.connections_total += 1

    def discard(self, conn: Any) -> None:
        self.connections.discard(conn)
        if not self.connections and self._emptied is not None:
            self._emptied.set()

    async def wait_empty(self, timeout: float) -> bool:
        """Wait until no connection is left; False if ``timeout`` ran out first."""
        if not self.connections:
            return True
        self._emptied = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._emptied.wait()
        except TimeoutError:
            return False
        finally:
            self._emptied = None
        return True
