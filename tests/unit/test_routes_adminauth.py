import hashlib

import orjson

from tracker.http import Request
from tracker.routes.adminauth import AdminAuth

TOKENS = ("first-token", "second-token")
AUTH = AdminAuth(tuple(hashlib.sha256(t.encode()).hexdigest() for t in TOKENS))


def request(authorization: str | None, query: str = "") -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("GET", "/tr/v1/rpi/redirects/go.example", query, headers, b"",
                   "192.0.2.1", False, True)


def test_each_configured_token_is_accepted() -> None:
    for token in TOKENS:
        assert AUTH.refusal(request(f"Bearer {token}")) is None
        assert AUTH.refusal(request(f"bearer   {token}  ")) is None  # scheme case, spaces


def test_anything_else_is_401_with_a_bearer_challenge() -> None:
    for header in (None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKENS[0]}",
                   TOKENS[0], f"Bearer {TOKENS[0]}x", f"Bearer {TOKENS[0][:-1]}",
                   "Bearer " + hashlib.sha256(TOKENS[0].encode()).hexdigest()):
        refusal = AUTH.refusal(request(header))
        assert refusal is not None and refusal.status == 401, header
        assert ("WWW-Authenticate", 'Bearer realm="tracker admin"') in refusal.headers
        assert b"token" in refusal.body and TOKENS[0].encode() not in refusal.body
        assert "error" in orjson.loads(refusal.body)


def test_a_token_in_the_url_is_no_credential() -> None:
    assert AUTH.refusal(request(None, f"access_token={TOKENS[0]}")) is not None


def test_without_configured_tokens_nobody_gets_in() -> None:
    closed = AdminAuth(())
    assert closed.refusal(request("Bearer ")) is not None
    assert closed.refusal(request(f"Bearer {TOKENS[0]}")) is not None
