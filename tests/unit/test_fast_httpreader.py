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
from tracker._fast.httpmessage import BODY, HEAD, IDLE, RequestError
from tracker._fast.request_py import Request
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


# Requests near the plain form the compiled reader reads without httptools (see
# its module docstring): most are plain in every part (names in any case, blanks
# around values, 1.0 and 1.1, several Content-Length spellings); the others have
# one part just outside that form, so both readers meet its boundary from both sides.
_PLAIN_URL = st.sampled_from(b"/azAZ09-._~%?=&#+!$'()*,;:@\"{|}\\^`[]<>")
_ODD_URL = st.sampled_from([0x20, 0x7F, 0x80, 0xE9, 0x00, 0x09])
_PLAIN_NAMES = ["Host", "user-agent", "ACCEPT-LANGUAGE", "Cookie", "cookie", "X-Forwarded-For",
                "Content-Type", "Expect", "X-A", "x-a", "X_Custom!#$%&'*+.^`|~", "Sec-CH-UA"]
_ODD_NAMES = ["A" * 70, "Bad Name", "", "X\x00", "Na\xe9me", "Upgrade", "Transfer-Encoding"]
_PLAIN_VALUE = st.sampled_from(b"azAZ09 ;=,-/.:\t")
_ODD_VALUE = st.sampled_from([0x7F, 0x80, 0xFF, 0x00, 0x0D, 0x0A, 0x0B])


@st.composite
def _near_plain_request(draw) -> bytes:
    odd = draw(st.sampled_from(["", "", "", "method", "target", "version", "name", "value",
                                "separator", "eol", "length", "connection"]))
    body = bytes(draw(st.lists(st.sampled_from(b"ab{}"), max_size=8)))
    methods = [b"GET", b"POST", b"HEAD", b"OPTIONS"]
    if odd == "method":
        methods = [b"PUT", b"get", b"CONNECT", b"GET ", b"TRACE"]
    target = b"/" + bytes(draw(st.lists(_PLAIN_URL, max_size=30)))
    if odd == "target":
        target = draw(st.sampled_from([b"*", b"http://h/p?q", b"", b"/a b", b"a"]))
        target += bytes(draw(st.lists(_ODD_URL, max_size=2)))
    versions = [b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 "] if odd == "version" \
        else [b"HTTP/1.1", b"HTTP/1.0"]
    method, version = draw(st.sampled_from(methods)), draw(st.sampled_from(versions))
    lines = [method + b" " + target + b" " + version]
    length = str(len(body)).encode()
    lengths = [length, b"0" * 3 + length, length + b" \t"]
    if odd == "length":
        lengths = [b"+1", b"", b"1 2", b"99", b"9" * 20, b"-0", length + b"x"]
    headers = [(draw(st.sampled_from(_PLAIN_NAMES)),
                bytes(draw(st.lists(_PLAIN_VALUE, max_size=20))))
               for _ in range(draw(st.integers(0, 5)))]
    if body or draw(st.booleans()):
        headers.append((draw(st.sampled_from(["Content-Length", "content-length"])),
                        draw(st.sampled_from(lengths))))
    if draw(st.booleans()) or odd == "connection":
        values = [b"keep-alive, close", b"upgrade", b"", b"x"] if odd == "connection" \
            else [b"keep-alive", b"Keep-Alive", b"close", b"CLOSE"]
        headers.append(("Connection", draw(st.sampled_from(values))))
    if odd == "name":
        headers.append((draw(st.sampled_from(_ODD_NAMES)), b"v"))
    if odd == "value":
        headers.append(("X-Odd", bytes(draw(st.lists(_PLAIN_VALUE, max_size=3)))
                        + bytes([draw(_ODD_VALUE)])))
    headers = draw(st.permutations(headers))
    separators = [b" : ", b"\t:", b" :"] if odd == "separator" else [b": ", b":", b":\t ", b":  "]
    for name, value in headers:
        lines.append(name.encode("latin-1") + draw(st.sampled_from(separators)) + value)
    eol = draw(st.sampled_from([b"\n", b"\r", b"\r\r\n"])) if odd == "eol" else b"\r\n"
    return eol.join(lines) + eol + eol + body


@settings(max_examples=1500, deadline=None)
@given(st.lists(_near_plain_request(), min_size=1, max_size=3), st.data(),
       st.sampled_from([LIMITS, Limits(), Limits(max_body_bytes=4, max_header_bytes=60,
                                               max_url_bytes=12)]))
def test_compiled_agrees_with_twin_near_the_plain_form(requests, data, limits):
    stream = b"".join(requests)
    if data.draw(st.booleans()):
        chunks = [stream]  # whole: the compiled reader's own path where it applies
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
        chunks = [c for c in (stream[a:b] for a, b in
                              zip([0, *cuts], [*cuts, len(stream)], strict=True)) if c]
    assert run(_compiled(), chunks, limits) == run(httpreader_py, chunks, limits)


def test_plain_requests_pipelined_then_one_cut(impl):
    """Whole requests, then one cut in two reads: both handed over in order."""
    first = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua \r\nuser-agent: ub\r\n\r\n"
    second = b"POST /b HTTP/1.1\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"
    third = b"HEAD /c HTTP/1.0\r\nConnection: close\r\n\r\n"
    stream = first + second + third + b"GET /dropped HTTP/1.1\r\n\r\n"
    cut = len(first) + len(second) + 5
    states = run(impl, [stream[:cut], stream[cut:]])
    requests = [r for state in states for r in state[1]]
    assert [(r[0], r[1], r[2], r[3], r[4], r[7], r[8]) for r in requests] == [
        ("GET", "/a", "x=1", {"host": "h", "user-agent": "ua, ub"}, b"", True, "1.1"),
        ("POST", "/b", "", {"content-length": "3", "connection": "keep-alive"}, b"abc", True,
         "1.1"),
        ("HEAD", "/c", "", {"connection": "close"}, b"", False, "1.0"),
    ]
    assert states[-1][3] is True  # finished: the request after "Connection: close" is dropped


@pytest.mark.parametrize("blanks, status", [(b"", None), (b" ", None), (b"  ", 431)])
def test_trailing_blanks_count_toward_the_header_limit(impl, blanks, status):
    # "/" and the request line's allowance are 19 bytes, then "X", the value with
    # its trailing blanks, and 4 per line: 19 + 1 + 39 + blanks + 4 against 64.
    raw = b"GET / HTTP/1.1\r\nX: " + b"v" * 39 + blanks + b"\r\n\r\n"
    ((outcome, requests, *_),) = run(impl, [raw], Limits(max_header_bytes=64))
    if status is None:
        assert outcome is None and requests[0][3] == {"x": "v" * 39}
    else:
        assert outcome[0] == status and not requests


def test_compiled_reuses_a_repeated_header_value():
    got: list[Request] = []
    reader = _compiled().RequestReader(LIMITS, "198.51.100.4", False, got.append)
    for ua in (b"ua/1 ", b"ua/1", b"ua/2"):
        reader.feed(b"GET /p HTTP/1.1\r\nHost: h\r\nUser-Agent: " + ua + b"\r\n\r\n")
    assert [r.headers["user-agent"] for r in got] == ["ua/1", "ua/1", "ua/2"]
    assert got[1].headers["user-agent"] is got[0].headers["user-agent"]
    assert got[2].headers["host"] is got[0].headers["host"]
