"""The WebSocket opening handshake: accept key, refusals, origin, ack flag."""

from __future__ import annotations

from tracker.http import Request
from tracker.ws.handshake import accept_key, ack_requested, handshake_response, origin_allowed

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3


def ws_request(method: str = "GET", query: str = "", **overrides: str | None) -> Request:
    headers = {
        "host": "t.example",
        "upgrade": "websocket",
        "connection": "keep-alive, Upgrade",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return Request(method, "/tr/v1/ws", query, headers, b"", "192.0.2.1", False, True)


def test_accept_key_matches_rfc_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_request_gets_101_with_accept() -> None:
    response = handshake_response(ws_request())
    assert response.status == 101
    headers = dict(response.headers)
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["upgrade"] == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert b"content-length" not in response.encode(True)


def test_header_tokens_are_case_insensitive() -> None:
    response = handshake_response(ws_request(upgrade="WebSocket", connection="UPGRADE"))
    assert response.status == 101


def test_not_get_is_405() -> None:
    response = handshake_response(ws_request("POST"))
    assert response.status == 405
    assert ("allow", "GET") in response.headers


def test_plain_get_is_426_naming_websocket() -> None:
    response = handshake_response(ws_request(upgrade=None, connection=None))
    assert response.status == 426
    assert ("upgrade", "websocket") in response.headers


def test_other_version_is_426_naming_13() -> None:
    for version in ("8", None):
        response = handshake_response(ws_request(sec_websocket_version=version))
        assert response.status == 426
        assert ("sec-websocket-version", "13") in response.headers


def test_connection_without_upgrade_is_400() -> None:
    assert handshake_response(ws_request(connection="keep-alive")).status == 400


def test_bad_keys_are_400() -> None:
    bad = [None, "", "not base64 at all!!!!!!!", "dGhlIHNhbXBsZSBub25j", "AAAAAAAAAAAAAAAAAAAAAAAA"]
    # The last one is base64 of 18 bytes: right length of text, wrong length of key.
    for key in bad:
        assert handshake_response(ws_request(sec_websocket_key=key)).status == 400, key


def test_origin_checked_against_a_list() -> None:
    allowed = ("https://shop.example", "https://blog.example/")
    ok = handshake_response(ws_request(origin="https://blog.example"), allowed)
    assert ok.status == 101
    refused = handshake_response(ws_request(origin="https://evil.example"), allowed)
    assert refused.status == 403
    assert b"origin" in refused.body
    # Not a browser: nothing to protect.
    assert handshake_response(ws_request(), allowed).status == 101


def test_star_allows_any_origin() -> None:
    assert handshake_response(ws_request(origin="https://any.example"), ("*",)).status == 101
    assert origin_allowed("https://any.example", ["*"])
    assert not origin_allowed("https://any.example", [])


def test_ack_flag() -> None:
    assert ack_requested("ack=1")
    assert ack_requested("x=2&ack=true")
    assert not ack_requested("")
    assert not ack_requested("ack=0")
    assert not ack_requested("back=1")
