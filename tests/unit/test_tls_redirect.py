"""HTTP -> HTTPS redirects: targets, exemptions, and Host headers that must be refused."""

from __future__ import annotations

import pytest

from tracker.http import Request, Response
from tracker.tls import HttpsRedirect
from tracker.tls.redirect import host_name


def request(path: str = "/", query: str = "", host: str | None = "example.com",
            method: str = "GET") -> Request:
    headers = {} if host is None else {"host": host}
    return Request(method=method, path=path, query=query, headers=headers, body=b"",
                   peer_ip="203.0.113.9", tls=False, keep_alive=True)


def location(response: Response | None) -> str:
    assert response is not None
    return dict(response.headers)["location"]


@pytest.mark.parametrize(("host", "port", "target"), [
    ("example.com", 443, "https://example.com/a/b?x=1&y=%20"),
    ("example.com:8080", 443, "https://example.com/a/b?x=1&y=%20"),
    ("Example.COM.:80", 8443, "https://example.com:8443/a/b?x=1&y=%20"),
    ("127.0.0.1:8080", 8443, "https://127.0.0.1:8443/a/b?x=1&y=%20"),
    ("[::1]:8080", 8443, "https://[::1]:8443/a/b?x=1&y=%20"),
    ("[2001:db8::1]", 443, "https://[2001:db8::1]/a/b?x=1&y=%20"),
])
def test_redirect_target(host: str, port: int, target: str) -> None:
    response = HttpsRedirect(port).answer(request("/a/b", "x=1&y=%20", host))
    assert response is not None
    assert response.status == 301
    assert location(response) == target


def test_post_keeps_its_method_with_308() -> None:
    response = HttpsRedirect(443).answer(request("/tr/v1/tc", host="t.example", method="POST"))
    assert response is not None
    assert response.status == 308
    assert location(response) == "https://t.example/tr/v1/tc"


def test_head_gets_301() -> None:
    response = HttpsRedirect(443).answer(request(method="HEAD"))
    assert response is not None and response.status == 301


@pytest.mark.parametrize("path", [
    "/.well-known/acme-challenge/abc_DEF-123",
    "/health",
    "/ping",
])
def test_exempt_paths_stay_on_http(path: str) -> None:
    assert HttpsRedirect(443).answer(request(path)) is None


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/.well-known/other", "/ping/x"])
def test_other_paths_are_redirected(path: str) -> None:
    assert location(HttpsRedirect(443).answer(request(path))) == f"https://example.com{path}"


def test_exempt_paths_are_configurable() -> None:
    redirect = HttpsRedirect(443, exempt_paths=())
    assert redirect.answer(request("/health")) is not None
    assert redirect.answer(request("/.well-known/acme-challenge/x")) is None


@pytest.mark.parametrize("host", [
    None,
    "",
    "example.com\r\nSet-Cookie: a=b",
    "example.com\nx",
    "evil.com/",
    "evil.com/path",
    "user@evil.com",
    "evil.com#x",
    "evil.com?x",
    "evil.com\\x",
    "exa mple.com",
    "example.com:",
    "example.com:80:80",
    "example.com:http",
    "example.com:0",
    "example.com:70000",
    "-example.com",
    "example..com\x00",
    "[::1",
    "[::1]x",
    "[::1]:",
    "[evil.com]",
    "ex\u00e4mple.com",
    "a" * 300,
])
def test_bad_host_is_refused_not_echoed(host: str | None) -> None:
    response = HttpsRedirect(443).answer(request("/x", host=host))
    assert response is not None
    assert response.status == 400
    assert "location" not in dict(response.headers)


def test_allowed_hosts_limit_the_target() -> None:
    redirect = HttpsRedirect(443, allowed_hosts=["t.example.com", "Other.Example."])
    assert location(redirect.answer(request(host="t.example.com:80"))) == "https://t.example.com/"
    assert location(redirect.answer(request(host="other.example"))) == "https://other.example/"
    refused = redirect.answer(request(host="evil.example"))
    assert refused is not None and refused.status == 400


def test_unsafe_path_characters_are_percent_encoded() -> None:
    # Latin-1 text as the HTTP layer hands it over: raw bytes >= 0x80 and spaces.
    response = HttpsRedirect(443).answer(request('/a b"<\u00e9>', "q=\u00e9 x"))
    target = location(response)
    assert target == "https://example.com/a%20b%22%3C%C3%A9%3E?q=%C3%A9%20x"
    response.head_lines(keep_alive=True)  # encodable: no control character left


def test_non_origin_form_target_goes_to_root() -> None:
    assert location(HttpsRedirect(443).answer(request("*", method="OPTIONS"))) == \
        "https://example.com/"


def test_response_encodes_with_location() -> None:
    response = HttpsRedirect(8443).answer(request("/p"))
    assert response is not None
    head = response.head_lines(keep_alive=False)
    assert head.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert b"location: https://example.com:8443/p\r\n" in head


@pytest.mark.parametrize(("header", "name"), [
    ("Example.com", "example.com"),
    ("example.com.:8080", "example.com"),
    ("[::1]:1", "[::1]"),
    ("10.0.0.1:65535", "10.0.0.1"),
    ("example.com:65536", None),
    ("exa_mple.com", None),
])
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_bad_tls_port() -> None:
    with pytest.raises(ValueError):
        HttpsRedirect(0)
