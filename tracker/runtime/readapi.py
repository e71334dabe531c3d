"""The shipper's read API: a Unix socket speaking HTTP, for reads the workers' routes need.

Workers never open a store (DuckDB has one writing process: the shipper). A
route that must read, such as the consent history, asks the shipper here:
`GET /rows?table=agreements&column=vid&value=<uuid>` answers a JSON list,
newest first, from the store plus the log's undelivered tail.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from pathlib import Path
from typing import Any

from tracker._fast import decode_query
from tracker.config import Config
from tracker.http import Limits, Request, Response, start_server
from tracker.model.tables import TABLES_BY_NAME
from tracker.shipper.reads import ReadService
from tracker.sinks.base import ReadableSink, Sink, SinkError

log = logging.getLogger(__name__)
# The only reads offered: (table, column) pairs the routes use.
READABLE = frozenset({("agreements", "vid")})
MAX_ROWS = 1000


def read_socket_path(config: Config) -> Path:
    return config.run_directory / "shipper.sock"


class ReadApi:
    def __init__(self, service: ReadService | None):
        self._service = service

    def handle(self, request: Request) -> Any:
        if request.method != "GET" or request.path != "/rows":
            return Response.error(404, "no such read")
        try:
            q = decode_query(request.query)
        except ValueError as e:
            return Response.error(400, str(e))
        table, column, value = q.get("table", ""), q.get("column", ""), q.get("value", "")
        if (table, column) not in READABLE or not value:
            return Response.error(400, "unsupported read")
        if self._service is None:
            return Response.error(503, "no store that can answer reads is configured")
        return self._read(TABLES_BY_NAME[table], column, value)

    async def _read(self, table: Any, column: str, value: str) -> Response:
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(None, self._service.rows,  # type: ignore[union-attr]
                                              table, column, value, MAX_ROWS)
        except SinkError as e:
            log.warning("read from the store failed: %s", e)
            return Response.error(503, "the store cannot answer now")
        return Response.json(200, rows)


def read_service(config: Config, sinks: list[Sink]) -> ReadService | None:
    """Reads come from the first configured store that can answer them."""
    for sink in sinks:
        if isinstance(sink, ReadableSink):
            return ReadService(config.data_directory, sink)
    return None


async def serve_reads_until_stopped(config: Config, service: ReadService | None) -> None:
    """Serve the read API on the Unix socket until SIGTERM."""
    path = read_socket_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    server = await start_server(ReadApi(service), "", 0, Limits(), reuse_port=False, sock=sock)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.shutdown(5.0)
    path.unlink(missing_ok=True)
