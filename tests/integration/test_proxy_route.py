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

    t = tracker_factory(Workers=2, ProxyUrl=f"http://127.0.0.1:{free_port()}").start()
    status, _, body = t.request("GET", "/api/x")
    assert status == 502 and json.loads(body)["error"]


# Streaming: the upstream's answer reaches the client as it is produced, with
# bounded memory in the worker. The upstream is a raw socket server in a thread.

class _RawUpstream:
    """Accepts connections in a thread; `answer(sock)` writes each answer."""

    def __init__(self, answer) -> None:
        import socket

        self._answer = answer
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import contextlib

        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by the test
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = conn.recv(65536)
                    if not data:
                        break
                    head += data
                with contextlib.suppress(OSError):  # the proxy went away
                    self._answer(conn)

    def close(self) -> None:
        self._sock.close()


def _block(index: int, size: int = 1 << 20) -> bytes:
    """Block `index` of a test body: distinct per index, so reordering shows."""
    return index.to_bytes(8, "big") * (size // 8)


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_proxy_streams_the_first_chunk_before_the_upstream_produced_the_rest(
        tracker_factory) -> None:
    import hashlib
    import http.client

    blocks = 64  # 64 MB, chunked
    first_read = threading.Event()
    resumed = threading.Event()
    expected = hashlib.sha256()

    def answer(conn) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(blocks):
            if i == 1:
                first_read.wait(60)  # produce the rest only once the client has the first
                resumed.set()
            conn.sendall(b"%x\r\n%b\r\n" % (1 << 20, _block(i)))
        conn.sendall(b"0\r\n\r\n")

    for i in range(blocks):
        expected.update(_block(i))
    upstream = _RawUpstream(answer)
    try:
        t = tracker_factory(Workers=2, ProxyUrl=upstream.url).start()
        conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=60)
        conn.request("GET", "/api/big")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("transfer-encoding") == "chunked"
        received = hashlib.sha256()
        size = 0
        while size < 1 << 20:  # the whole first block, sent before the upstream waits
            data = resp.read1(1 << 20)
            assert data, "answer ended early"
            received.update(data)
            size += len(data)
        assert not resumed.is_set()  # the upstream is still held on its second block
        first_read.set()
        while data := resp.read1(1 << 20):
            received.update(data)
            size += len(data)
        conn.close()
        assert size == blocks << 20
        assert received.hexdigest() == expected.hexdigest()
        assert resumed.is_set()
    finally:
        first_read.set()
        upstream.close()


def test_proxy_memory_stays_bounded_for_a_large_body_and_a_slow_client(tracker_factory) -> None:
    import hashlib
    import http.client
    import socket
    import time

    blocks = 200  # 200 MB with a Content-Length

    def answer(conn) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (blocks << 20))
        for i in range(blocks):
            conn.sendall(_block(i))

    upstream = _RawUpstream(answer)
    try:
        t = tracker_factory(Workers=2, ProxyUrl=upstream.url).start()
        states = (t.data_dir / "run").glob("worker-*.json")
        pids = [json.loads(path.read_text())["pid"] for path in states]
        assert len(pids) == 2
        start = {pid: _rss_kib(pid) for pid in pids}
        peak = dict(start)
        conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        conn.request("GET", "/api/huge")
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.getheader("content-length")) == blocks << 20
        expected = hashlib.sha256()
        for i in range(blocks):
            expected.update(_block(i))
        received = hashlib.sha256()
        size = 0
        reads = 0
        while data := resp.read1(65536):
            received.update(data)
            size += len(data)
            reads += 1
            if reads % 16 == 0:
                time.sleep(0.002)  # a slow client: the upstream is much faster
            if reads % 64 == 0:
                for pid in pids:
                    peak[pid] = max(peak[pid], _rss_kib(pid))
        conn.close()
        assert size == blocks << 20
        assert received.hexdigest() == expected.hexdigest()
        for pid in pids:
            assert peak[pid] - start[pid] < 100 * 1024, (pid, start[pid], peak[pid])
    finally:
        upstream.close()
