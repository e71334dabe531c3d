"""/api/ reverse-proxied to ProxyUrl through `tracker run` with 2 workers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        doc = {"method": self.command, "path": self.path, "body": body.decode(),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        data = json.dumps(doc).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "echo")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_proxy_forwards_with_forwarded_headers_and_rate_limit(tracker_factory, upstream) -> None:
    t = tracker_factory(Workers=2, ProxyUrl=upstream, RateLimitPerDay=3).start()
    status, headers, body = t.request("POST", "/api/orders?x=1", json.dumps({"a": 1}),
                                      {"Content-Type": "application/json", "X-Custom": "kept"})
    assert status == 201 and headers["x-upstream"] == "echo"
    doc = json.loads(body)
    assert doc["method"] == "POST" and doc["path"] == "/api/orders?x=1"
    assert json.loads(doc["body"]) == {"a": 1}
    assert doc["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert doc["headers"]["x-forwarded-proto"] == "http"
    assert doc["headers"]["x-custom"] == "kept"
    assert t.request("GET", "/api/a")[0] == 200
    assert t.request("DELETE", "/api/b")[0] == 200
    status, headers, _ = t.request("GET", "/api/c")  # the 4th request of this client today
    assert status == 429 and int(headers["retry-after"]) > 0


def test_unreachable_upstream_is_502(tracker_factory) -> None:
    from tests.integration.harness import free_port

    t = tracker_factory(ProxyUrl=f"http://127.0.0.1:{free_port()}").start()
    status, _, body = t.request("GET", "/api/x")
    assert status == 502 and json.loads(body)["error"]
