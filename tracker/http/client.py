"""A minimal HTTP/1.1 exchange over an open stream (Connection: close), for the
reverse proxy and for the workers' reads from the shipper."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httptools


class AnswerTooLarge(Exception):
    """The answer's body went over the caller's limit."""


@dataclass
class Answer:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False


class _Collector:
    def __init__(self, answer: Answer, max_body: int):
        self.answer = answer
        self.max_body = max_body

    def on_header(self, name: bytes, value: bytes) -> None:
        self.answer.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, data: bytes) -> None:
        if len(self.answer.body) + len(data) > self.max_body:
            raise AnswerTooLarge
        self.answer.body += data

    def on_message_complete(self) -> None:
        self.answer.complete = True


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes, max_body: int) -> Answer:
    """Send `request` (head and body), read the whole answer, close the stream.

    Raises OSError for connection problems, httptools.HttpParserError for a
    malformed answer and AnswerTooLarge.
    """
    answer = Answer()
    parser = httptools.HttpResponseParser(_Collector(answer, max_body))
    try:
        writer.write(request)
        while not answer.complete:
            chunk = await reader.read(65536)
            if not chunk:
                break
            parser.feed_data(chunk)
        answer.status = parser.get_status_code()
    finally:
        writer.close()
    if not answer.complete and answer.status == 0:
        raise ConnectionError("closed without an answer")
    return answer
