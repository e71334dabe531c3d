"""RequestReader: the compiled reader against its pure-Python twin, by example and
on random splits of valid and hostile input. (Through HttpProtocol the reader is
covered by the test_http_* modules, with either implementation.)"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import httpreader_py
from tracker._fast.httpmessage import BODY, HEAD, IDLE, Request, RequestError
from tracker.http import Limits

LIMITS = Limits(max_body_bytes=64, max_header_bytes=256, max_url_bytes=64)


def _compiled():
    try:
        return importlib.import_module("tracker._fast.httpreader")
    except ImportError:
        pytest.skip("tracker._fast.httpreader is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def impl(request):
    return _compiled() if request.param == "compiled" else httpreader_py


def run(module: Any, chunks: list[bytes], limits: Limits = LIMITS) -> list[Any]:
    """Everything observable: requests delivered, errors raised, the state after each chunk."""
    got: list[Request] = []
    reader = module.RequestReader(limits, "198.51.100.4", True, got.append)
    seen: list[Any] = []
    for chunk in chunks:
        try:
            reader.feed(chunk)
            outcome: Any = None
        except RequestError as exc:
            outcome = (exc.status, exc.message)
        seen.append((outcome, [_fields(r) for r in got], reader.phase, reader.finished,
                     reader.continue_wanted, _fields(reader.upgrade_request),
                     bytes(reader.upgrade_tail)))
        got.clear()
    return seen


def _fields(request: Request | None) -> Any:
    if request is None:
        return None
    return (request.method, request.path, request.query, request.headers, request.body,
            request.peer_ip, request.tls, request.keep_alive, request.http_version)


def test_simple_get(impl):
    (state,) = run(impl, [b"GET /tr/v1/x?a=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua  \r\n\r\n"])
    outcome, requests, phase, finished, *_ = state
    assert outcome is None and phase == IDLE and not finished
    assert requests == [("GET", "/tr/v1/x", "a=1", {"host": "h", "user-agent": "ua"}, b"",
                         "198.51.100.4", True, True, "1.1")]


def test_phases_while_a_request_arrives(impl):
    states = run(impl, [b"POST / HTTP/1.1\r\nContent-Length: 4\r\n", b"\r\nab", b"cd"])
    assert [s[2] for s in states] == [HEAD, BODY, IDLE]
    assert states[-1][1][0][4] == b"abcd"


def test_repeated_headers_unusual_target_and_http10(impl):
    raw = (b"GET http://proxy.example/p?q=1#f HTTP/1.0\r\nCookie: a=1\r\nX-A: 1\r\n"
           b"cookie: b=2\r\nx-a: 2\r\n\r\n")
    (state,) = run(impl, [raw])
    method, path, query, headers, _, _, _, keep_alive, version = state[1][0]
    assert method == "GET"
    assert (path, query) == ("/p", "q=1")
    assert headers == {"cookie": "a=1; b=2", "x-a": "1, 2"}
    assert (keep_alive, version) == (False, "1.0")
    assert state[3] is True  # no further request on this connection


@pytest.mark.parametrize("raw, status", [
    (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX: " + b"v" * 300 + b"\r\n\r\n", 431),
    (b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
])
def test_limits_and_malformed_input(impl, raw, status):
    ((outcome, *_),) = run(impl, [raw])
    assert outcome[0] == status


def test_upgrade_keeps_the_bytes_after_the_head(impl):
    raw = b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nxyz"
    (state,) = run(impl, [raw, b"more"])[-1:]
    assert state[3] is True and state[5][1] == "/ws"
    assert state[6] == b"xyzmore"


def test_expect_continue(impl):
    states = run(impl, [b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
                        b"ok"])
    assert states[0][4] is True and states[1][4] is False


REQUESTS = [
    b"GET /tr/v1/tr/ename/a?utm_source=x HTTP/1.1\r\nHost: h\r\nAccept-Language: fr\r\n\r\n",
    b"POST /tr/v1/tr/ HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"
    b'{"a": 1 }',
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    b"HEAD /x HTTP/1.1\r\nConnection: keep-alive\r\nCookie: vid=1\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: \xe9t\xe9\r\n\r\n",
    b"OPTIONS /tr/v1/ HTTP/1.1\r\nOrigin: o\r\nAccess-Control-Request-Headers: X\r\n\r\n",
    b"GET /close HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET /" + b"u" * 70 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"v" * 260 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n",
    b"GARBAGE\r\n\r\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(REQUESTS), min_size=1, max_size=5), st.data())
def test_compiled_agrees_with_twin_on_random_splits(requests, data):
    stream = b"".join(requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    chunks = [c for c in chunks if c]
    assert run(_compiled(), chunks) == run(httpreader_py, chunks)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_compiled_agrees_with_twin_on_noise(noise):
    chunks = [b"GET / HTTP/1.1\r\n", noise, b"\r\n\r\n"]
    assert run(_compiled(), chunks) == run(httpreader_py, chunks)
