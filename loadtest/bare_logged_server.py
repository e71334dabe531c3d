"""The bare server plus the bytes any tracker must move, for free in user space.

Answers with the tracker's 204 (two Set-Cookie lines, no-store), and appends a
470-byte record per request to a log file with one write per event loop turn,
as the tracker's worker does. It does no other work: `loadtest/ceiling.py`
compares it with the bare server to show what being a tracker costs the kernel.

    .venv/bin/python loadtest/bare_logged_server.py PORT LOG_FILE

(Unlike the bare server, it always keeps the connection alive: wrk does.)
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import uvloop
from bare_server import BareProtocol

ANSWER = (b"HTTP/1.1 204 No Content\r\ndate: Thu, 26 Nov 2026 14:00:00 GMT\r\n"
          b"cache-control: no-store\r\n"
          b"set-cookie: vid=01a21838-a916-71c7-bbc5-5fa2288a3934; Max-Age=63072000; Path=/; "
          b"SameSite=Lax\r\n"
          b"set-cookie: sid=01a21838-a916-71c8-9779-807c27037d09; Max-Age=1800; Path=/; "
          b"SameSite=Lax\r\n"
          b"content-length: 0\r\n\r\n")
RECORD = b"x" * 470  # the JSON of one page view in the log
LOG_BYTES = 64 << 20  # then the file starts over: bounded disk use


class TurnLog:
    """Records collected during a loop turn, written with one write at its end."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        self.pending = bytearray()
        self.scheduled = False
        self.size = 0

    def add(self) -> None:
        self.pending += RECORD
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.write)

    def write(self) -> None:
        self.scheduled = False
        self.size += os.write(self.fd, self.pending)
        self.pending.clear()
        if self.size > LOG_BYTES:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            self.size = 0


class LoggedProtocol(BareProtocol):
    """The bare server's protocol (same parsing, same empty callbacks), with the
    tracker's answer and a log record per request."""

    def __init__(self, log: TurnLog) -> None:
        super().__init__()
        self.log = log

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.log.add()
        self.transport.write(ANSWER)


async def main(port: int, log_path: str) -> None:
    log = TurnLog(log_path)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = await loop.create_server(lambda: LoggedProtocol(log), sock=sock, backlog=2048)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), sys.argv[2]))
