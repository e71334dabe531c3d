"""/tr/v1/pub/ through `tracker run` with 2 workers: files, caching headers, no traversal."""

from __future__ import annotations

import os
import socket

import pytest

pytestmark = pytest.mark.integration


def _raw_status(port: int, target: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_static_files(tracker_factory, tmp_path) -> None:
    root = tmp_path / "pub"
    (root / "js").mkdir(parents=True)
    (root / "js" / "tracker.js").write_text("console.log('hi');")
    (root / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    t = tracker_factory(Workers=2, StaticDirectory=str(root)).start()

    status, headers, body = t.request("GET", "/tr/v1/pub/js/tracker.js")
    assert status == 200 and body == b"console.log('hi');"
    assert headers["content-type"].startswith(("text/javascript", "application/javascript"))
    etag, modified = headers["etag"], headers["last-modified"]
    assert t.request("GET", "/tr/v1/pub/js/tracker.js", headers={"If-None-Match": etag})[0] == 304
    assert t.request("GET", "/tr/v1/pub/js/tracker.js",
                     headers={"If-Modified-Since": modified})[0] == 304
    assert t.request("HEAD", "/tr/v1/pub/js/tracker.js")[0] == 200
    for target in (b"/tr/v1/pub/../config.json", b"/tr/v1/pub/%2e%2e/config.json",
                   b"/tr/v1/pub/js/..%2f..%2fconfig.json", b"/tr/v1/pub/.secret",
                   b"/tr/v1/pub/escape.txt", b"/tr/v1/pub/js", b"/tr/v1/pub/",
                   b"/tr/v1/pub/%00", b"/tr/v1/pub/nope.js", b"/tr/v1/pub/%ff"):
        assert _raw_status(t.port, target) == 404, target
    assert t.request("POST", "/tr/v1/pub/js/tracker.js", "x")[0] == 405
