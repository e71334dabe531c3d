"""header_lines: the compiled encoder against its pure-Python twin."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import httpwire_py


def _compiled():
    try:
        return importlib.import_module("tracker._fast.httpwire")
    except ImportError:
        pytest.skip("tracker._fast.httpwire is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def wire(request):
    return _compiled() if request.param == "compiled" else httpwire_py


def test_lines_in_order(wire):
    headers = [("Set-Cookie", "a=1; Path=/"), ("X-N", 5), ("Vary", "Origin, caf\xe9")]
    assert wire.header_lines(headers) == (
        b"Set-Cookie: a=1; Path=/\r\nX-N: 5\r\nVary: Origin, caf\xe9\r\n")
    assert wire.header_lines(()) == b""
    assert wire.header_lines(iter([("a", "b")])) == b"a: b\r\n"


@pytest.mark.parametrize("name, value", [
    ("Location", "a\r\nSet-Cookie: x=1"), ("Location", "a\nb"), ("Location", "a\rb"),
    ("X\r\nY", "v"), ("X", "nul\0"),
])
def test_response_splitting_refused(wire, name, value):
    with pytest.raises(ValueError, match="control character"):
        wire.header_lines([("Ok", "fine"), (name, value)])


def test_text_beyond_latin1_refused(wire):
    with pytest.raises(UnicodeEncodeError):
        wire.header_lines([("X", "\u20ac")])


def _outcome(module, headers):
    try:
        return module.header_lines(headers)
    except UnicodeEncodeError:
        return "UnicodeEncodeError"
    except ValueError as exc:
        return str(exc)


TEXT = st.text(alphabet=st.sampled_from(["a", "B", ":", " ", "\t", "\r", "\n", "\0", "\xe9",
                                         "\xff", "\u20ac", "\U0001f600"]), max_size=6)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(TEXT, st.one_of(TEXT, st.integers())), max_size=4))
def test_compiled_agrees_with_twin(headers):
    assert _outcome(_compiled(), headers) == _outcome(httpwire_py, headers)
