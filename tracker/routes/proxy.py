"""/api/... reverse-proxied to `ProxyUrl`, with X-Forwarded-* set and the rate limit applied.

The request body is the one the HTTP layer already holds (at most
MaxBodyBytes), so it is forwarded whole. The upstream's answer is streamed: its
head becomes a StreamingResponse as soon as it is read, and its body is passed
on chunk by chunk at the pace the client reads it (tracker/http/protocol.py),
so memory per request stays bounded whatever the answer's size. One fresh
upstream connection per request (Connection: close upstream).

Failures before the head are 502 (unreachable, malformed) or 504 (no head
within TIMEOUT_SECONDS). After the head the status has gone out: a failure,
or TIMEOUT_SECONDS without a byte, ends the client's connection early.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httptools

from tracker.events import ClientIpResolver
from tracker.http import Request, Response, StreamingResponse
from tracker.http.client import AnswerStream

PREFIX = "/api/"
TIMEOUT_SECONDS = 30.0  # to the head, then between two reads of the body
# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
                        "content-length", "host"})
# Not forwarded either: the HTTP layer already answered a client's 100-continue and
# the body goes upstream whole.
_DROPPED = HOP_BY_HOP | {"expect"}


class ReverseProxy:
    def __init__(self, upstream: str, ip_resolver: ClientIpResolver):
        parts = urlsplit(upstream)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        self._netloc = parts.netloc
        self._base = parts.path.rstrip("/")
        self._ips = ip_resolver

    def handle(self, request: Request) -> Any:
        return self._forward(request)

    def _head(self, request: Request) -> bytes:
        h = request.headers
        client = self._ips.resolve(request.peer_ip, h.get("x-forwarded-for"), h.get("x-real-ip"))
        target = self._base + request.path + (f"?{request.query}" if request.query else "")
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: {self._netloc}"]
        lines += [f"{k}: {v}" for k, v in h.items()
                  if k not in _DROPPED and not k.startswith("x-forwarded-")]
        lines += [f"X-Forwarded-For: {client}",
                  f"X-Forwarded-Proto: {'https' if request.tls else 'http'}",
                  f"X-Forwarded-Host: {h.get('host', '')}",
                  f"Content-Length: {len(request.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    async def _forward(self, request: Request) -> Response | StreamingResponse:
        writer = None
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=True if self._tls else None)
                answer = AnswerStream(reader, writer, TIMEOUT_SECONDS)
                writer.write(self._head(request) + request.body)
                await answer.read_head()
        except BaseException as exc:
            if writer is not None:
                writer.close()
            if isinstance(exc, TimeoutError):
                return Response.error(504, "the upstream did not answer in time")
            if isinstance(exc, (OSError, httptools.HttpParserError)):
                return Response.error(502, "the upstream is unreachable or answered badly")
            raise
        headers = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
        # The body goes on as the client reads it; the protocol closes `answer` at its end.
        return StreamingResponse(answer.status, headers, answer, answer.length)
