"""The shipper's read API: a Unix socket speaking HTTP, for reads the workers' routes need.

Workers never open a store (DuckDB has one writing process: the shipper). A
route that must read, such as the consent history, asks the shipper here:
`GET /rows?table=agreements&column=vid&value=<uuid>` answers a JSON list,
newest first, from the store plus the log's undelivered tail;
`GET /links?host=<host>` the host's short links (tracker/links/reads.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from tracker._fast import decode_query
from tracker.config import Config
from tracker.http import Limits, Request, Response, start_server
from tracker.links.reads import LinkReads
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
    def __init__(self, service: ReadService | None, links: LinkReads):
        self._service = service
        self._links = links

    def handle(self, request: Request) -> Any:
        if request.method != "GET" or request.path not in ("/rows", "/links"):
            return Response.error(404, "no such read")
        try:
            q = decode_query(request.query)
        except ValueError as e:
            return Response.error(400, str(e))
        if request.path == "/links":
            if not q.get("host"):
                return Response.error(400, "host is required")
            return self._in_thread(self._links.for_host, q["host"])
        table, column, value = q.get("table", ""), q.get("column", ""), q.get("value", "")
        if (table, column) not in READABLE or not value:
            return Response.error(400, "unsupported read")
        if self._service is None:
            return Response.error(503, "no store that can answer reads is configured")
        return self._in_thread(self._service.rows, TABLES_BY_NAME[table], column, value,
                               MAX_ROWS)

    async def _in_thread(self, read: Any, *args: Any) -> Response:
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(None, read, *args)
        except (SinkError, OSError, ValueError) as e:
            log.warning("read failed: %s", e)
            return Response.error(503, "the store cannot answer now")
        return Response.json(200, rows)


def read_service(config: Config, sinks: list[Sink]) -> ReadService | None:
    """Reads come from the first configured store that can answer them."""
    for sink in sinks:
        if isinstance(sink, ReadableSink):
            return ReadService(config.data_directory, sink)
    return None


async def serve_reads_until_stopped(config: Config, service: ReadService | None,
                                    stopping: threading.Event | None = None) -> None:
    """Serve the read API on the Unix socket until SIGTERM (or at once when
    `stopping` says one came earlier)."""
    path = read_socket_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    api = ReadApi(service, LinkReads(config.data_directory))
    server = await start_server(api, "", 0, Limits(), reuse_port=False, sock=sock)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if stopping is not None and stopping.is_set():
        stop.set()
    await stop.wait()
    await server.shutdown(5.0)
    path.unlink(missing_ok=True)
