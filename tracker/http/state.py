"""What a server's connections share: the live set, counters, the drain flag,
and the output written once per loop turn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tracker._fast import ServerCore
from tracker.http.response import HttpDate

log = logging.getLogger(__name__)


class ServerState(ServerCore):
    """Shared by every connection of one listening server (one event loop).
    The counters, the drain flag and the turn's output are ``ServerCore``'s
    (tracker/_fast/connection.pyx): every request touches them.

    ``before_write`` is called before answers are handed to a transport
    (ServerCore's ``commit``): the application makes durable what they
    acknowledge (the worker: its log's group append). When it raises, those
    answers are not sent and their connections are aborted; the failure is
    logged once, and its end.
    """

    def __init__(self, before_write: Callable[[], None] | None = None) -> None:
        super().__init__(before_write)
        self.connections: set[Any] = set()  # live HttpProtocol instances
        self.connections_total = 0
        self.connections_rejected = 0  # refused over max_connections
        self.clock = HttpDate()
        self._emptied: asyncio.Event | None = None

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (summed when asked, not per request)."""
        return sum(conn.pending for conn in self.connections)

    def responses_by_class(self) -> dict[str, int]:
        return {f"{i}xx": n for i, n in enumerate(self.responses) if i}

    def _log_commit_failure(self, exc: Exception) -> None:
        log.error("making the answers' data durable failed; aborting their connections "
                  "until it works again", exc_info=exc)

    def _log_commit_recovery(self) -> None:
        log.warning("making the answers' data durable works again")

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
