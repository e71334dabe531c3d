"""Bad input gets a clear 4xx and costs nothing else, through a real server."""

from __future__ import annotations

import gzip
import json
import resource
import socket
import time

import pytest

from tests.integration.harness import TrackerProcess

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


def _raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _error(body: bytes) -> str:
    doc = json.loads(body)
    assert set(doc) >= {"error"} and isinstance(doc["error"], str) and doc["error"]
    return doc["error"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> TrackerProcess:
    t = TrackerProcess(tmp_path_factory.mktemp("bad") / "data", MaxBodyBytes=65536,
                       ConnectionTimeout=1.5, HeaderTimeout=1.5, MaxConnections=5000)
    t.start()
    # One good event before the abuse: it must survive everything below.
    status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps({"ename": "before_abuse"}), JSON)
    assert status == 204
    yield t
    if t.proc and t.proc.poll() is None:
        t.stop()


@pytest.mark.parametrize("body, headers, status, words", [
    (b"{not json", JSON, 400, "JSON"),
    (b"", JSON, 400, "empty"),
    (b"42", JSON, 400, "object"),
    (b'{"batch": 5}', JSON, 400, "batch"),
    (b"not gzip at all", {**JSON, "Content-Encoding": "gzip"}, 400, "gzip"),
    (gzip.compress(b'{"ename":"x"}')[:-6], {**JSON, "Content-Encoding": "gzip"}, 400, "gzip"),
    (b'{"ename":"x"}', {**JSON, "Content-Encoding": "br"}, 415, "Content-Encoding"),
    (b'{"ename":"x"}', {"Content-Type": "application/xml"}, 415, "JSON"),
    (b'{"vp_w": "wide"}', JSON, 400, "vp_w"),
    (b'{"vid": "not-a-uuid"}', JSON, 400, "vid"),
    (b'{"params": [1, 2]}', JSON, 400, "params"),
    (json.dumps([{}] * 10001).encode(), JSON, 413, "too many"),
])
def test_bad_bodies(server: TrackerProcess, body, headers, status, words) -> None:
    code, _, resp = server.request("POST", "/tr/v1/tr/", body, headers)
    assert code == status
    assert words.lower() in _error(resp).lower()


def test_gzip_bomb_is_refused_without_inflating_it(server: TrackerProcess) -> None:
    bomb = gzip.compress(b"[" + b" " * (50 << 20) + b"]")  # 50 MB of spaces, ~50 KB packed
    assert len(bomb) < 65536
    code, _, resp = server.request("POST", "/tr/v1/tr/", bomb,
                                   {**JSON, "Content-Encoding": "gzip"})
    assert code == 413 and "decompressed" in _error(resp)


def test_batch_with_some_invalid_events_reports_them_by_index(server: TrackerProcess) -> None:
    batch = [{"ename": "ok1"}, {"vp_w": "x"}, "not an object", {"ename": "ok2"},
             {"client_ts": "yesterday-ish"}]
    code, _, resp = server.request("POST", "/tr/v1/tr/", json.dumps({"batch": batch}), JSON)
    assert code == 200
    doc = json.loads(resp)
    assert doc["accepted"] == 2
    assert [r["index"] for r in doc["rejected"]] == [1, 2, 4]
    assert all(r["error"] for r in doc["rejected"])


def test_oversized_body_is_413(server: TrackerProcess) -> None:
    big = json.dumps({"ename": "x", "params": {"pad": "y" * 70000}})
    code, _, resp = server.request("POST", "/tr/v1/tr/", big, JSON)
    assert code == 413 and _error(resp)
    chunked = (b"POST /tr/v1/tr/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + b"8000\r\n" + b"a" * 0x8000 + b"\r\n"
               + b"8000\r\n" + b"a" * 0x8000 + b"\r\n" + b"10\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n")
    assert _status(_raw(server.port, chunked)) == 413


def test_long_uri_is_414_and_big_headers_431(server: TrackerProcess) -> None:
    raw = _raw(server.port, b"GET /tr/v1/tr/ename/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _status(raw) == 414
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(20))
    raw = _raw(server.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert _status(raw) == 431


def test_malformed_request_and_bad_path_escapes(server: TrackerProcess) -> None:
    assert _status(_raw(server.port, b"BLAH\x00\x01 / HTTP/1.1\r\n\r\n")) == 400
    code, _, resp = server.request("GET", "/tr/v1/tr/ename/%zz")
    assert code == 400 and _error(resp)
    code, _, resp = server.request("GET", "/tr/v1/tr/ename/%C3%28")  # invalid UTF-8
    assert code == 400 and _error(resp)


def test_wrong_method_and_unknown_route(server: TrackerProcess) -> None:
    code, headers, resp = server.request("DELETE", "/tr/v1/tr/")
    assert code == 405 and "POST" in headers["allow"] and _error(resp)
    code, _, resp = server.request("GET", "/no/such/thing")
    assert code == 404 and _error(resp)


def test_slow_client_is_dropped_after_the_timeout(server: TrackerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        started = time.monotonic()
        assert s.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 9  # closed by the server, not our own timeout
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /tr/v1/tr/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert s.recv(1024) == b""


def test_2000_idle_connections_and_ping_still_answers(server: TrackerProcess) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    idle = []
    try:
        for _ in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        code, _, body = server.request("GET", "/ping")
        assert code == 200 and body == b"pong"
        status = server.json("/status")
        assert status["connections"] >= 1
    finally:
        for s in idle:
            s.close()


def test_the_server_survived_and_kept_the_accepted_event(server: TrackerProcess) -> None:
    # Runs last in this module: after all the abuse above, the server still
    # answers and the event accepted before it is delivered.
    code, _, _ = server.request("POST", "/tr/v1/tr/", json.dumps({"ename": "after_abuse"}), JSON)
    assert code == 204
    _, _, text = server.request("GET", "/metrics")
    statuses = [line for line in text.decode().splitlines()
                if line.startswith("tracker_http_requests_total{")]
    assert statuses, "no request counters exposed"
    assert not [s for s in statuses if 'status="5' in s and not s.endswith(" 0")], statuses
    classes = [line for line in text.decode().splitlines()
               if line.startswith("tracker_http_responses_total{")]
    assert any('class="4xx"' in c for c in classes), classes  # the protocol's own 4xx count
    assert not [c for c in classes if 'class="5xx"' in c and not c.endswith(" 0")], classes
    assert server.stop() == 0
    names = [r[0] for r in server.query("SELECT ename FROM events ORDER BY created_at")]
    assert names[0] == "before_abuse" and "after_abuse" in names
    assert "ok1" in names and "ok2" in names
    assert "Traceback" not in server.log()
