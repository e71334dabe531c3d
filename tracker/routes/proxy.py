"""/api/... reverse-proxied to `ProxyUrl`, with X-Forwarded-* set and the rate limit applied.

The request body is the one the HTTP layer already holds (at most
MaxBodyBytes); the upstream's answer is read whole, up to MAX_RESPONSE_BYTES,
over a fresh connection per request (Connection: close upstream).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httptools

from tracker.events import ClientIpResolver
from tracker.http import Request, Response
from tracker.http.client import AnswerTooLarge, exchange

PREFIX = "/api/"
MAX_RESPONSE_BYTES = 32 << 20
TIMEOUT_SECONDS = 30.0
# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business, never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection",
                        "content-length", "host"})


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
                  if k not in HOP_BY_HOP and not k.startswith("x-forwarded-")]
        lines += [f"X-Forwarded-For: {client}",
                  f"X-Forwarded-Proto: {'https' if request.tls else 'http'}",
                  f"X-Forwarded-Host: {h.get('host', '')}",
                  f"Content-Length: {len(request.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    async def _forward(self, request: Request) -> Response:
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=True if self._tls else None)
                answer = await exchange(reader, writer, self._head(request) + request.body,
                                        MAX_RESPONSE_BYTES)
        except TimeoutError:
            return Response.error(504, "the upstream did not answer in time")
        except AnswerTooLarge:
            return Response.error(502, "the upstream's answer is too large")
        except (OSError, httptools.HttpParserError):
            return Response.error(502, "the upstream is unreachable or answered badly")
        headers = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
        return Response(answer.status, headers, bytes(answer.body))
