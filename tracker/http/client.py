"""A minimal HTTP/1.1 client over an open stream (Connection: close), for the
reverse proxy and for the workers' reads from the shipper.

``AnswerStream`` reads an answer as it arrives: the head first, then the body
one read at a time, so memory stays bounded whatever the body's size (the
stream reader pauses the socket while nobody asks for more). ``exchange``
collects a whole, size-capped answer on top of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import httptools

READ_SIZE = 65536


class AnswerTooLarge(Exception):
    """The answer's body went over the caller's limit."""


@dataclass
class Answer:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class AnswerStream:
    """One answer on ``reader``: ``await read_head()``, then iterate the body's chunks.

    Iterating raises ConnectionError when the answer is cut short, TimeoutError
    when a read waits over ``read_timeout`` seconds and httptools.HttpParserError
    for a malformed answer. ``aclose()`` closes the connection (always call it).
    Interim 1xx answers (100 Continue, 103 Early Hints) are skipped.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 read_timeout: float | None = None) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self._reader = reader
        self._writer = writer
        self._timeout = read_timeout
        self._parser = httptools.HttpResponseParser(self)
        self._chunks: deque[bytes] = deque()  # body bytes of the latest read
        self._head_done = False
        self._complete = False

    @property
    def length(self) -> int | None:
        """The body's Content-Length, None when not given (or chunked)."""
        length = None
        for name, value in self.headers:
            name = name.lower()
            if name == "transfer-encoding":
                return None
            if name == "content-length" and value.strip().isdigit():
                length = int(value)
        return length

    async def read_head(self) -> None:
        """Read until the head is in; ConnectionError if the peer closes first."""
        while not self._head_done:
            if not await self._read():
                raise ConnectionError("closed without an answer")

    def __aiter__(self) -> AnswerStream:
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        while not chunks:
            if self._complete:
                raise StopAsyncIteration
            if not await self._read():
                if self._ends_at_close():
                    self._complete = True
                    raise StopAsyncIteration
                raise ConnectionError("the answer was cut short")
        return chunks.popleft()

    async def aclose(self) -> None:
        self._writer.close()

    async def _read(self) -> bool:
        """Feed one read to the parser; False at end of input."""
        async with asyncio.timeout(self._timeout):
            data = await self._reader.read(READ_SIZE)
        if not data:
            return False
        self._parser.feed_data(data)
        return True

    def _ends_at_close(self) -> bool:
        # Neither length nor chunked: the body is whatever comes until the close.
        names = {name.lower() for name, _ in self.headers}
        return self._head_done and not names & {"content-length", "transfer-encoding"}

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = []  # interim: the real answer follows
            return
        self.status = status
        self._head_done = True

    def on_body(self, data: bytes) -> None:
        self._chunks.append(data)

    def on_message_complete(self) -> None:
        if self._head_done:
            self._complete = True


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes, max_body: int) -> Answer:
    """Send `request` (head and body), read the whole answer, close the stream.

    Raises OSError for connection problems (a cut answer included),
    httptools.HttpParserError for a malformed answer and AnswerTooLarge.
    """
    stream = AnswerStream(reader, writer)
    try:
        writer.write(request)
        await stream.read_head()
        answer = Answer(stream.status, stream.headers)
        async for chunk in stream:
            if len(answer.body) + len(chunk) > max_body:
                raise AnswerTooLarge
            answer.body += chunk
    finally:
        await stream.aclose()
    return answer
