"""The hand-built HTTP/1.1 layer on uvloop + httptools. Knows nothing of tracking.

Modules: ``request`` (Request), ``response`` (Response, PrebuiltResponse,
StreamingResponse, HttpDate, Upgrade), ``client`` (AnswerStream, exchange: our
side of an upstream exchange), ``limits`` (Limits), ``protocol`` (one
HttpProtocol per connection), ``deadline`` (its one timer), ``state``
(ServerState shared by a server's connections, and the output it writes once
per loop turn), ``server`` (start_server, HttpServer.shutdown). What runs on
every request lives in tracker._fast, compiled, each with a pure-Python twin:
the reader (``httpreader``: bytes -> Requests, size limits), the ``Request``
itself (``request``), the connection's per-request steps and the turn's
output (``connection``: HttpProtocol's base class ``ConnectionCore`` and
ServerState's, ``ServerCore``) and the deadline (``deadline``).

Behaviour decided here:
- Errors found by this layer are JSON ``{"error": ...}`` and close the
  connection: 400 malformed, 413 body (Content-Length up front, chunked while
  streaming), 414 URL, 431 request line + headers, 503 + ``Retry-After: 1``
  over ``max_connections`` (answered on the connection's first bytes).
  An application exception is a 500 ``{"error": "internal error"}``; the
  connection stays open.
- Timeouts close without a response: ``header_timeout`` from a request's first
  byte to its last header line; ``idle_timeout`` for a keep-alive connection
  waiting for a request, for a whole request body once its headers arrived,
  and for a client that stops reading (the connection is then aborted).
  Nothing is timed while the application works on a request.
- A ``StreamingResponse`` body is written chunk by chunk (chunked, or as is
  under its Content-Length), the next chunk taken only while the transport's
  write buffer is under ``high_water``; a client gone stops it (``aclose``).
  Later pipelined requests are answered after its last chunk.
- Responses go out in request order. A queue holds pipelined requests while an
  awaitable answer is pending; reading pauses at ``max_pipelined`` queued and
  while the transport's write buffer is over ``high_water``.
- Text (target, header values) is decoded as latin-1: ``s.encode("latin-1")``
  gives back the wire bytes. Paths and queries stay percent-encoded.
- Graceful shutdown: idle connections close at once; others close after the
  answer to the last request they received (that answer says
  ``connection: close``); what is left at the timeout is aborted.
- Not done: lingering close (after an early 413 a client still sending may see
  a reset instead of the answer), HTTP/2, trailers exposed to the app.
"""

from tracker.http.limits import Limits
from tracker.http.protocol import App, HttpProtocol, Reply
from tracker.http.request import Request
from tracker.http.response import (
    HttpDate,
    PrebuiltResponse,
    Response,
    StreamingResponse,
    Upgrade,
)
from tracker.http.server import HttpServer, start_server
from tracker.http.state import ServerState

__all__ = [
    "App",
    "HttpDate",
    "HttpProtocol",
    "HttpServer",
    "Limits",
    "PrebuiltResponse",
    "Reply",
    "Request",
    "Response",
    "ServerState",
    "StreamingResponse",
    "Upgrade",
    "start_server",
]
