"""The compiled Request (tracker._fast.request) against its twin, the dataclass."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from tracker._fast import request_py

ARGS = ("POST", "/tr/v1/tr/", "a=1", {"cookie": 'vid=1; x="q"; vid=2', "host": "h"},
        b"{}", "203.0.113.7", True, False)


def _compiled() -> Any:
    try:
        return importlib.import_module("tracker._fast.request")
    except ImportError:
        pytest.skip("tracker._fast.request is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def impl(request: pytest.FixtureRequest) -> Any:
    return _compiled() if request.param == "compiled" else request_py


def test_fields_default_version_and_keywords(impl: Any) -> None:
    request = impl.Request(*ARGS)
    assert (request.method, request.path, request.query, request.body) == (
        "POST", "/tr/v1/tr/", "a=1", b"{}")
    assert (request.peer_ip, request.tls, request.keep_alive) == ("203.0.113.7", True, False)
    assert request.http_version == "1.1"
    named = impl.Request(method="GET", path="/", query="", headers={}, body=b"",
                         peer_ip="::1", tls=False, keep_alive=True, http_version="1.0")
    assert named.http_version == "1.0"
    named.body = b"changed"
    assert named.body == b"changed"


def test_cookie_first_occurrence_wins_and_quotes_go(impl: Any) -> None:
    request = impl.Request(*ARGS)
    assert request.cookie("vid") == "1"
    assert request.cookie("x") == "q"
    assert request.cookie("absent") is None
    assert impl.Request("GET", "/", "", {}, b"", "", False, True).cookie("vid") is None


def test_equality_and_repr_match_the_twin() -> None:
    compiled = _compiled()
    a, b = compiled.Request(*ARGS), compiled.Request(*ARGS)
    twin = request_py.Request(*ARGS)
    a.cookie("vid")  # the parsed cookies take no part in equality
    assert a == b
    assert a != compiled.Request(*ARGS[:-1], True)
    assert repr(a) == repr(twin)
    with pytest.raises(TypeError):
        hash(a)
