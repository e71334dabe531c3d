"""decode_path_pairs / decode_query: rules by example on both implementations,
and the compiled module against its pure-Python twin on random and hostile input."""

from __future__ import annotations

import importlib
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import pathpairs_py

PREFIX = "/tr/v1/tr/"
KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"


def _compiled():
    try:
        return importlib.import_module("tracker._fast.pathpairs")
    except ImportError:
        pytest.skip("tracker._fast.pathpairs is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def pp(request):
    return _compiled() if request.param == "compiled" else pathpairs_py


# --- decode_path_pairs by example -------------------------------------------------


def test_typical_path(pp):
    got = pp.decode_path_pairs(PREFIX + "ename/page_view/url/https%3A%2F%2Fx.com%2F", len(PREFIX))
    assert got == {"ename": "page_view", "url": "https://x.com/"}


def test_plus_is_not_a_space_in_paths(pp):
    assert pp.decode_path_pairs(PREFIX + "q/a+b/r/a%2Bb%20c", len(PREFIX)) == {
        "q": "a+b",
        "r": "a+b c",
    }


def test_case_is_preserved_and_hex_digits_any_case(pp):
    got = pp.decode_path_pairs(PREFIX + "eName/Page%2fView/UTM/%c3%a9%C3%A9", len(PREFIX))
    assert got == {"eName": "Page/View", "UTM": "éé"}


def test_empty_segments_are_skipped(pp):
    assert pp.decode_path_pairs(PREFIX + "a//b/", len(PREFIX)) == {"a": "b"}
    assert pp.decode_path_pairs(PREFIX + "//a/1//b//2//", len(PREFIX)) == {"a": "1", "b": "2"}
    assert pp.decode_path_pairs(PREFIX + "///", len(PREFIX)) == {}
    assert pp.decode_path_pairs(PREFIX, len(PREFIX)) == {}


def test_odd_trailing_key_gets_empty_value(pp):
    assert pp.decode_path_pairs(PREFIX + "a/1/flag", len(PREFIX)) == {"a": "1", "flag": ""}
    assert pp.decode_path_pairs(PREFIX + "a/1/flag/", len(PREFIX)) == {"a": "1", "flag": ""}


def test_first_value_of_a_repeated_key_wins(pp):
    assert pp.decode_path_pairs(PREFIX + "a/1/b/2/a/3", len(PREFIX)) == {"a": "1", "b": "2"}


def test_literal_non_ascii_text_is_kept(pp):
    assert pp.decode_path_pairs(PREFIX + "city/Zürich/x/日本", len(PREFIX)) == {
        "city": "Zürich",
        "x": "日本",
    }


def test_prefix_len_bounds(pp):
    assert pp.decode_path_pairs("/short", 100) == {}
    assert pp.decode_path_pairs("a/b", 0) == {"a": "b"}
    with pytest.raises(ValueError, match="prefix_len"):
        pp.decode_path_pairs("a/b", -1)


@pytest.mark.parametrize("bad", ["%", "%4", "%zz", "%4g", "%%41", "ab%", "a%2"])
def test_invalid_percent_escapes(pp, bad):
    with pytest.raises(ValueError, match="pair 2: invalid percent-escape"):
        pp.decode_path_pairs(PREFIX + "a/1/key/" + bad, len(PREFIX))
    with pytest.raises(ValueError, match="pair 1: invalid percent-escape"):
        pp.decode_path_pairs(PREFIX + "k" + bad + "/v", len(PREFIX))


@pytest.mark.parametrize("bad", ["%FF", "%C3", "%C3%28", "%ED%A0%80", "%C0%AF", "%F4%90%80%80"])
def test_invalid_utf8_after_decoding(pp, bad):
    with pytest.raises(ValueError, match="pair 1: not valid UTF-8"):
        pp.decode_path_pairs(PREFIX + "k/" + bad, len(PREFIX))


def test_unpaired_surrogate_in_input_is_rejected(pp):
    with pytest.raises(ValueError, match="not valid Unicode"):
        pp.decode_path_pairs(PREFIX + "k/\ud800", len(PREFIX))


def test_key_rules(pp):
    ok = "A" * 64
    assert pp.decode_path_pairs(PREFIX + f"{ok}/v/a.b-c_9/w", len(PREFIX)) == {
        ok: "v",
        "a.b-c_9": "w",
    }
    # escapes are decoded before the key is checked
    assert pp.decode_path_pairs(PREFIX + "%61%42/v", len(PREFIX)) == {"aB": "v"}
    for bad in ["A" * 65, "a+b", "a%20b", "é", "a%2Fb", "a=b", "%00"]:
        with pytest.raises(ValueError, match="invalid key"):
            pp.decode_path_pairs(PREFIX + bad + "/v", len(PREFIX))


def test_bad_key_message_is_bounded(pp):
    with pytest.raises(ValueError) as info:
        pp.decode_path_pairs(PREFIX + "é" * 10_000 + "/v", len(PREFIX))
    assert len(str(info.value)) < 200


def test_pair_limit_in_paths(pp):
    ok = "/".join(f"k{i}/v" for i in range(256))
    assert len(pp.decode_path_pairs(PREFIX + ok, len(PREFIX))) == 256
    # duplicates count too: the limit bounds the work, not the result
    with pytest.raises(ValueError, match="too many pairs"):
        pp.decode_path_pairs(PREFIX + "k/v/" * 257, len(PREFIX))
    with pytest.raises(ValueError, match="too many pairs"):
        pp.decode_path_pairs(PREFIX + ok + "/odd", len(PREFIX))


# --- decode_query by example ----------------------------------------------------


def test_query_basics(pp):
    got = pp.decode_query("utm_source=news+letter&ref=a%2Bb&empty=&flag&x=a=b")
    assert got == {"utm_source": "news letter", "ref": "a+b", "empty": "", "flag": "", "x": "a=b"}


def test_query_first_value_wins_and_empty_pieces_are_skipped(pp):
    assert pp.decode_query("&&a=1&&a=2&b=3&") == {"a": "1", "b": "3"}
    assert pp.decode_query("") == {}


def test_query_only_ampersand_separates(pp):
    assert pp.decode_query("a=1;b=2") == {"a": "1;b=2"}


def test_query_key_rules(pp):
    for bad in ["=v", "a+b=1", "%C3%A9=1", "a%20=1", "k" * 65 + "=1", "?a=1"]:
        with pytest.raises(ValueError, match="invalid key"):
            pp.decode_query(bad)


def test_query_invalid_escapes_and_utf8(pp):
    with pytest.raises(ValueError, match="pair 2: invalid percent-escape"):
        pp.decode_query("a=1&b=%G0")
    with pytest.raises(ValueError, match="pair 1: not valid UTF-8"):
        pp.decode_query("a=%FF")


def test_pair_limit_in_queries(pp):
    assert len(pp.decode_query("&".join(f"k{i}=v" for i in range(256)))) == 256
    with pytest.raises(ValueError, match="too many pairs"):
        pp.decode_query("k=v&" * 257)


def test_twins_share_limits():
    assert _compiled().MAX_PAIRS == pathpairs_py.MAX_PAIRS == 256
    assert _compiled().MAX_KEY_LENGTH == pathpairs_py.MAX_KEY_LENGTH == 64


# --- round trips (both implementations) ------------------------------------------

keys = st.text(alphabet=KEY_CHARS, min_size=1, max_size=64)
values = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=150, deadline=None)
@given(pairs=st.dictionaries(keys, values, max_size=20))
def test_query_round_trip(pairs):
    encoded = urllib.parse.urlencode(pairs)
    for module in (_compiled(), pathpairs_py):
        assert module.decode_query(encoded) == pairs


@settings(max_examples=150, deadline=None)
@given(pairs=st.dictionaries(keys, values.filter(bool), max_size=20))
def test_path_round_trip(pairs):
    rest = "/".join(
        urllib.parse.quote(k, safe="") + "/" + urllib.parse.quote(v, safe="")
        for k, v in pairs.items()
    )
    for module in (_compiled(), pathpairs_py):
        assert module.decode_path_pairs(PREFIX + rest, len(PREFIX)) == pairs


# --- compiled == twin on hostile input ------------------------------------------


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the type and message must match too
        return ("error", type(exc), str(exc))


escapes = st.binary(min_size=1, max_size=4).map(lambda b: "".join(f"%{x:02X}" for x in b))
hostile_pieces = st.one_of(
    st.sampled_from(["/", "//", "&", "=", "+", "%", "%2", "%zz", "%2F", "%25", "%C3%A9", "é"]),
    st.text(alphabet=KEY_CHARS, max_size=8),
    st.text(max_size=8),  # any code point, surrogates included
    escapes,
    escapes.map(str.lower),
)
hostile = st.lists(hostile_pieces, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=hostile, prefix_len=st.integers(-2, 12))
def test_compiled_matches_twin_on_paths(text, prefix_len):
    compiled = _compiled()
    assert outcome(compiled.decode_path_pairs, text, prefix_len) == outcome(
        pathpairs_py.decode_path_pairs, text, prefix_len
    )


@settings(max_examples=400, deadline=None)
@given(text=hostile)
def test_compiled_matches_twin_on_queries(text):
    compiled = _compiled()
    assert outcome(compiled.decode_query, text) == outcome(pathpairs_py.decode_query, text)


@settings(max_examples=30, deadline=None)
@given(count=st.integers(250, 262), sep=st.sampled_from(["/", "&"]), tail=hostile)
def test_compiled_matches_twin_near_the_pair_limit(count, sep, tail):
    compiled = _compiled()
    if sep == "/":
        text = PREFIX + "k/v/" * count + tail
        args: tuple = (text, len(PREFIX))
        pair = (compiled.decode_path_pairs, pathpairs_py.decode_path_pairs)
    else:
        args = ("k=v&" * count + tail,)
        pair = (compiled.decode_query, pathpairs_py.decode_query)
    assert outcome(pair[0], *args) == outcome(pair[1], *args)


@settings(max_examples=400, deadline=None)
@given(path=hostile, prefix_len=st.integers(-2, 12), query=hostile)
def test_compiled_matches_twin_on_whole_urls(path, prefix_len, query):
    compiled = _compiled()
    assert outcome(compiled.decode_url_fields, path, prefix_len, query) == outcome(
        pathpairs_py.decode_url_fields, path, prefix_len, query)


def test_url_fields_take_the_path_first_then_what_the_query_adds(pp):
    fields = pp.decode_url_fields("/tr/v1/tr/ename/view/url/a%2Fb", 10,
                                  "ename=other&utm_source=news&utm_source=second")
    assert fields == {"ename": "view", "url": "a/b", "utm_source": "news"}
    assert pp.decode_url_fields("/tr/v1/tr/", 10, "") == {}
    assert pp.decode_url_fields("/tr/v1/tr", 10, "a=1") == {"a": "1"}
    with pytest.raises(ValueError, match="pair 1: invalid percent-escape"):
        pp.decode_url_fields("/tr/v1/tr/a/b", 10, "x=%zz")


# --- known keys ----------------------------------------------------------------------

NAMES = ("ename", "url", "utm_source", "a.b-c", "x" * 64, "x" * 65, "é", "", 7)


def test_known_keys_groups_the_possible_keys_by_length(pp):
    known = pp.known_keys(NAMES)
    assert len(known) == 65
    assert known[5] == ("ename", "a.b-c")
    assert known[3] == ("url",) and known[10] == ("utm_source",)
    assert known[64] == ("x" * 64,)
    assert sum(len(group) for group in known) == 5  # not: 65 long, non-ASCII, empty, 7


@settings(max_examples=300, deadline=None)
@given(path=hostile, query=hostile)
def test_known_keys_change_no_result(path, query):
    known = _compiled().known_keys(NAMES)
    for module in (_compiled(), pathpairs_py):
        assert outcome(module.decode_url_fields, path, 0, query, known) == outcome(
            module.decode_url_fields, path, 0, query)


def test_compiled_hands_back_the_known_objects():
    names = ["".join(["ena", "me"]), "".join(["u", "rl"])]  # built: not interned constants
    known = _compiled().known_keys(names)
    fields = _compiled().decode_url_fields("/ename/view/url/x/other/y", 0, "url=z", known)
    keys = list(fields)
    assert fields == {"ename": "view", "url": "x", "other": "y"}
    assert keys[0] is names[0] and keys[1] is names[1]
