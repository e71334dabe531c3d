"""Response encoding, the Date cache and prebuilt responses."""

from __future__ import annotations

import orjson
import pytest

from tracker.http import HttpDate, PrebuiltResponse, Response
from tracker.http.request import Request, parse_cookies

DATE = b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"


class FakeNow:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def clock_at(second: float = 784111777.0) -> HttpDate:
    return HttpDate(FakeNow(second))


def test_json_response_bytes_exact() -> None:
    data = Response.json(200, {"a": 1}).encode(True, clock_at())
    assert data == (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n"
        + DATE
        + b'\r\n{"a":1}'
    )


def test_not_keep_alive_says_connection_close() -> None:
    data = Response.raw(200, "text/plain", b"hi").encode(False, clock_at())
    assert b"\r\nconnection: close\r\n" in data
    assert data.endswith(b"\r\n\r\nhi")


def test_http10_keep_alive_is_announced() -> None:
    data = Response.empty().encode(True, clock_at(), http10=True)
    assert b"connection: keep-alive\r\n" in data


def test_204_has_no_content_length_and_no_body() -> None:
    data = Response(204, body=b"ignored").encode(True, clock_at())
    assert data == b"HTTP/1.1 204 No Content\r\n" + DATE + b"\r\n"


def test_head_keeps_length_drops_body() -> None:
    data = Response.raw(200, "text/plain", b"hello").encode(True, clock_at(), head=True)
    assert b"content-length: 5\r\n" in data
    assert data.endswith(b"\r\n\r\n")


def test_error_is_json_with_message() -> None:
    response = Response.error(404, "no such page", [("x-a", "b")])
    assert response.status == 404
    assert orjson.loads(response.body) == {"error": "no such page"}
    assert ("content-type", "application/json") in response.headers
    assert ("x-a", "b") in response.headers


def test_unknown_status_has_empty_reason() -> None:
    data = Response.empty(299).encode(True, clock_at())
    assert data.startswith(b"HTTP/1.1 299 \r\n")


@pytest.mark.parametrize("value", ["a\r\nset-cookie: x=1", "a\nb", "a\rb"])
def test_header_injection_refused(value: str) -> None:
    with pytest.raises(ValueError):
        Response(302, [("location", value)]).encode(True, clock_at())


def test_date_line_cached_within_a_second_and_refreshed_after() -> None:
    now = FakeNow(784111777.2)
    clock = HttpDate(now)
    first = clock.line()
    now.value = 784111777.9
    assert clock.line() is first
    now.value = 784111778.0
    assert clock.line() == b"date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"


def test_prebuilt_matches_encode_and_is_reused() -> None:
    now = FakeNow(784111777.0)
    clock = HttpDate(now)
    response = Response.json(201, {"ok": True}, [("x-id", "7")])
    prebuilt = PrebuiltResponse(response)
    first = prebuilt.encode(True, clock)
    assert first == response.encode(True, clock)
    assert prebuilt.encode(True, clock) is first
    now.value += 1
    assert prebuilt.encode(True, clock) == response.encode(True, clock)
    assert prebuilt.encode(False, clock) == response.encode(False, clock)
    assert prebuilt.encode(True, clock, head=True) == response.encode(True, clock, head=True)
    assert response.prebuilt().status == 201


def test_prebuilt_no_body_status() -> None:
    clock = clock_at()
    assert PrebuiltResponse(Response.empty()).encode(True, clock) == Response.empty().encode(
        True, clock
    )


def test_cookie_parsing() -> None:
    assert parse_cookies('a=1; b="two words"; a=3; bad; =x; c=') == {
        "a": "1",
        "b": "two words",
        "c": "",
    }
    request = Request("GET", "/", "", {"cookie": "sid=abc; x=y"}, b"", "1.2.3.4", False, True)
    assert request.cookie("sid") == "abc"
    assert request.cookie("missing") is None
    no_cookie = Request("GET", "/", "", {}, b"", "1.2.3.4", False, True)
    assert no_cookie.cookie("sid") is None


def test_prebuilt_with_headers_adds_them_in_every_form() -> None:
    now = FakeNow(784111777.0)
    clock = HttpDate(now)
    base = PrebuiltResponse(Response.raw(200, "image/gif", b"GIF", [("Cache-Control", "no-store")]))
    cookies = (("Set-Cookie", "sid=1; Path=/"), ("Set-Cookie", "vid=2; Path=/"))
    derived = base.with_headers(cookies)
    full = Response.raw(200, "image/gif", b"GIF", [("Cache-Control", "no-store"), *cookies])
    assert derived.status == 200
    assert derived.response.headers == full.headers
    data = derived.encode(True, clock)
    assert data.startswith(base.encode(True, clock).partition(b"date:")[0])
    assert b"\r\nSet-Cookie: sid=1; Path=/\r\nSet-Cookie: vid=2; Path=/\r\n" + DATE in data
    assert data.endswith(b"\r\n\r\nGIF")
    for form in ({"head": True}, {"http10": True}):
        assert derived.encode(True, clock, **form) == full.encode(True, clock, **form)
    assert derived.encode(False, clock) == full.encode(False, clock)
    assert base.with_headers(()).encode(True, clock) == base.encode(True, clock)
    assert b"Set-Cookie" not in base.encode(True, clock)  # the base is unchanged


@pytest.mark.parametrize("value", ["a\r\nx: y", "a\nb", "nul\0"])
def test_prebuilt_with_headers_refuses_injection(value: str) -> None:
    with pytest.raises(ValueError):
        PrebuiltResponse(Response.empty()).with_headers((("Set-Cookie", value),))
