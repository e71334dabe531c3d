"""EventCore: the compiled core of EventBuilder.build against its pure-Python twin,
and the host rules it carries. (The rules themselves: test_events_builder.py.)"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import eventcore_py
from tracker.events import BuilderConfig, FieldError, RequestContext
from tracker.events.builder import BuilderRules

SECRET = bytes(range(32))
VID = "0190a6f2-7c3b-7d4e-8f00-123456789abc"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _compiled():
    try:
        return importlib.import_module("tracker._fast.eventcore")
    except ImportError:
        pytest.skip("tracker._fast.eventcore is not built (setup.py build_ext --inplace)")


def builder(module: Any, **config: Any) -> Any:
    class Builder(BuilderRules, module.EventCore):
        pass

    return Builder(BuilderConfig.from_secret(SECRET, **config))


def ctx(**kwargs: Any) -> RequestContext:
    base = dict(client_ip="203.0.113.77", user_agent="Mozilla/5.0 (X11; Linux) Firefox/128.0",
                accept_language="de-CH,de;q=0.9", host="t.example:8080", tls=False,
                now_ms=1_700_000_000_000)
    base.update(kwargs)
    return RequestContext(**base)


def outcome(module: Any, fields: dict[str, Any], context: RequestContext,
            cookieless_form: bool | None = None, with_cookies: bool = True,
            **config: Any) -> Any:
    """The row and cookies with generated ids replaced, or the error."""
    try:
        row, cookies = builder(module, **config).build(fields, context, cookieless_form,
                                                       with_cookies)
    except Exception as exc:  # FieldError mostly; any other must agree too
        return (type(exc).__name__, str(exc))
    text = repr((sorted(row.items()), cookies.headers))
    return UUID.sub("<id>", text)


@pytest.fixture(params=["compiled", "twin"])
def core(request):
    return _compiled() if request.param == "compiled" else eventcore_py


def test_page_view_on_both(core):
    row, cookies = builder(core).build(
        {"ename": "view", "url": "https://Shop.example:8443/p?utm_source=news", "vp_w": "1280",
         "ref": "r", "plan": "pro"}, ctx())
    assert row["host"] == "Shop.example" and row["source"] == "news"
    assert row["vp_w"] == 1280 and row["referrer"] == "r" and row["params"] == {"plan": "pro"}
    assert row["browser"] == "Firefox" and row["lang"] == "de-CH" and row["ip"] == "203.0.113.0"
    assert [name for name, _ in cookies.headers] == ["Set-Cookie", "Set-Cookie"]


def test_host_from_the_host_header_without_a_page_url(core):
    row, _ = builder(core).build({"ename": "x"}, ctx(host="[2001:db8::1]:443"))
    assert row["host"] == "2001:db8::1"


def test_errors_on_both(core):
    with pytest.raises(FieldError, match="longer than"):
        builder(core).build({"whatever": "x" * 9000}, ctx())
    with pytest.raises(FieldError, match="must be a string"):
        builder(core).build({"ename": ["x"]}, ctx())


def test_client_columns_are_remembered_per_client(core):
    b = builder(core)
    first, _ = b.build({}, ctx())
    again, _ = b.build({}, ctx())
    other, _ = b.build({}, ctx(user_agent="curl/8.0", client_ip="198.51.100.1"))
    assert (first["iphash"], first["browser"]) == (again["iphash"], again["browser"])
    assert other["bot"] is True and other["ip"] == "198.51.100.0"


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(["", "1", "yes", VID, VID.upper(), "https://a.b/c"]),
    st.dictionaries(st.sampled_from(["email", "k", "cell"]), st.text(max_size=5), max_size=2),
    st.lists(st.integers(), max_size=2),
)
NAMES = st.sampled_from([
    "ename", "etyp", "url", "host", "ref", "last", "oid", "content", "utm_source", "amt",
    "revenue", "score", "lat", "lon", "vp_w", "cflags", "bot", "ts", "client_ts", "eid",
    "vid", "sid", "params", "email", "uname", "created_at", "ip", "custom", "other",
])
URLS = st.sampled_from(["https://x.example/p?utm_medium=m&utm_source=s", "//cdn.example/x",
                        "/relative", "https://u@h.example:1/#utm_x", ""])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(NAMES, VALUES, max_size=8), URLS,
       st.sampled_from([None, VID, VID.upper(), "junk"]), st.sampled_from([None, 3, 0]),
       st.sampled_from([None, True, False]), st.booleans(), st.booleans())
def test_compiled_agrees_with_twin(fields, url, cookie_vid, consent, cookieless_form, tls,
                                   with_cookies):
    if url:
        fields = {**fields, "url": url}
    context = ctx(cookie_vid=cookie_vid, cookie_sid=cookie_vid, cookie_consent=consent, tls=tls)
    assert (outcome(_compiled(), fields, context, cookieless_form, with_cookies)
            == outcome(eventcore_py, fields, context, cookieless_form, with_cookies))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(NAMES, VALUES, max_size=6))
def test_compiled_agrees_with_twin_in_cookieless_mode(fields):
    context = ctx()
    assert (outcome(_compiled(), fields, context, cookieless=True)
            == outcome(eventcore_py, fields, context, cookieless=True))


PARAM_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**65), 2**65), st.floats(), st.text(max_size=20),
    st.sampled_from(["\ud800", "é" * 7, "\x00\x1f\"\\", "日本", "x" * 40]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
)
PARAM_KEYS = st.one_of(st.text(max_size=8), st.sampled_from(["email", "cell", "uname", "k\ud800"]))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(PARAM_KEYS, PARAM_VALUES, max_size=5),
       st.sampled_from([None, 7, 1.5, "x"]), st.sampled_from([None, 0, 3, 2**64, 1.0, "12"]),
       st.sampled_from([None, 2.5, 10**400, float("inf"), True, "3"]),
       st.sampled_from([20, 60, 200, 16384]))
def test_compiled_agrees_with_twin_on_params_and_numbers(params, extra, vp_w, score, limit):
    """The compiled core's shortcuts (numbers checked inline, a small params
    object kept without the hook) change nothing: sizes at the limit, surrogates,
    big integers, nested values, personal fields."""
    fields: dict[str, Any] = {"params": params, "vp_w": vp_w, "score": score}
    if extra is not None:
        fields["custom"] = extra
    context = ctx()
    assert (outcome(_compiled(), fields, context, max_params_bytes=limit)
            == outcome(eventcore_py, fields, context, max_params_bytes=limit))


def test_params_at_the_size_limit_on_both(core):
    b = builder(core, max_params_bytes=30)
    row, _ = b.build({"params": {"k": "x" * 22}}, ctx())  # {"k":"xxx..."}: exactly 30 bytes
    assert row["params"] == {"k": "x" * 22}
    row, _ = b.build({"params": {"k": 1.5, "n": None}}, ctx())  # within the bound: kept as given
    assert row["params"] == {"k": 1.5, "n": None}
    with pytest.raises(FieldError, match="larger than 30 bytes"):
        b.build({"params": {"k": "x" * 23}}, ctx())
    with pytest.raises(FieldError, match="only JSON values"):
        b.build({"params": {"k": "\ud800"}}, ctx())


HOST_PARTS = ["http", "https", "://", "//", "/", "?", "#", "@", ":", "[", "]", "a", "B",
              "é", "1", "x.y", " ", "%"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(HOST_PARTS), max_size=10).map("".join))
def test_host_rules_agree(text):
    compiled = _compiled()
    assert compiled.host_from_url(text) == eventcore_py.host_from_url(text)
    assert compiled.host_without_port(text) == eventcore_py.host_without_port(text)


def test_host_rules_by_example(core):
    assert core.host_from_url("https://user:pw@Shop.Example.COM:8443/a?b#c") == "Shop.Example.COM"
    assert core.host_from_url("http://[2001:db8::1]:8080/") == "2001:db8::1"
    assert core.host_from_url("https:///nohost") is None
    assert core.host_from_url("/relative/path") is None
    assert core.host_without_port("[::1]:80") == "::1"


def test_compiled_core_keeps_a_small_params_object_without_the_hook():
    calls = []

    class Counting(BuilderRules, _compiled().EventCore):
        def _finish_params(self, row: dict[str, Any], extra: Any) -> None:
            calls.append(extra)
            super()._finish_params(row, extra)

    b = Counting(BuilderConfig.from_secret(SECRET))
    row, _ = b.build({"params": {"sku": "A-42", "qty": 2, "ok": True}, "vp_w": 1280}, ctx())
    assert row["params"] == {"sku": "A-42", "qty": 2, "ok": True} and row["vp_w"] == 1280
    assert calls == []
    b.build({"params": {"email": "a@b.example"}}, ctx())  # personal: the hook hashes it
    b.build({"params": {"sku": "A"}, "custom": 1}, ctx())  # an unknown field joins params
    b.build({"params": {"deep": {"x": 1}}}, ctx())  # nested: measured exactly
    assert calls == [None, {"custom": 1}, None]


def test_cookie_ids_of_consecutive_events_on_both(core):
    """The compiled core remembers the last cookie ids it normalized: changing,
    repeating and dropping them between events gives what the twin gives."""
    b = builder(core)
    upper = VID.upper()
    for vid, sid in [(upper, upper), (upper, upper), (None, None), ("junk", upper),
                     (VID, None), (upper, "junk")]:
        row, cookies = b.build({}, ctx(cookie_vid=vid, cookie_sid=sid))
        assert (row["vid"] == VID) == (vid is not None and vid != "junk")
        assert (row["sid"] == VID) == (sid is not None and sid != "junk")
        assert len(cookies.headers) == (1 if row["vid"] == VID else 2)


def test_without_cookies_the_ids_are_the_same_and_no_line_is_made(core):
    b = builder(core)
    held = ctx(cookie_vid=VID, cookie_sid=VID)
    row, cookies = b.build({"ename": "a"}, held, None, False)
    assert (row["vid"], row["sid"], cookies.headers) == (VID, VID, ())
    row, cookies = b.build({"ename": "a"}, ctx(), None, False)  # new ids, still no lines
    assert UUID.fullmatch(row["vid"]) and UUID.fullmatch(row["sid"]) and cookies.headers == ()
    _, cookies = b.build({"ename": "a"}, held)
    assert [name for name, _ in cookies.headers] == ["Set-Cookie"]  # the session's, renewed


def batch_outcome(module: Any, items: list[Any], context: RequestContext,
                  place: dict[str, Any] | None) -> str:
    """build_batch's result with generated ids replaced, and the items that went
    through `gated`."""
    from tracker.routes.tracking import carry_ids

    b = builder(module)
    gated_calls = []

    def gated(item: dict[str, Any], ctx: Any, where: Any, with_cookies: bool) -> Any:
        gated_calls.append((sorted(item), with_cookies))
        return b.build({**item, **(where or {})}, ctx, True, with_cookies)

    rows, eids, rejected, cookies = b.build_batch(items, context, place, gated, carry_ids,
                                                  FieldError)
    text = repr(([sorted(row.items()) for row in rows], eids, rejected, cookies, gated_calls))
    return UUID.sub("<id>", text)


BATCH_ITEMS = st.lists(st.one_of(
    st.dictionaries(NAMES, VALUES, max_size=4), st.integers(), st.none(),
    st.fixed_dictionaries({"ename": st.text(max_size=3), "country": st.just("DE")}),
    st.fixed_dictionaries({"vid": st.sampled_from([VID, "junk"])}),
), max_size=6)


@settings(max_examples=300, deadline=None)
@given(BATCH_ITEMS, st.sampled_from([None, VID]), st.sampled_from([None, {"country": "FR"}]))
def test_build_batch_agrees_with_twin(items, cookie_vid, place):
    context = ctx(cookie_vid=cookie_vid, cookie_sid=cookie_vid)
    assert (batch_outcome(_compiled(), items, context, place)
            == batch_outcome(eventcore_py, items, context, place))


def test_build_batch_by_example(core):
    from tracker.routes.tracking import carry_ids

    b = builder(core)
    items = [{"ename": "a"}, 7, {"ename": "b", "vp_w": "wide"}, {"ename": "c", "vid": VID},
             {"ename": "d"}]
    rows, eids, rejected, cookies = b.build_batch(items, ctx(), None, None, carry_ids, FieldError)
    assert [row["ename"] for row in rows] == ["a", "c", "d"]
    assert eids == [rows[0]["eid"], None, None, rows[1]["eid"], rows[2]["eid"]]
    assert rejected == [{"index": 1, "error": "an event must be a JSON object"},
                        {"index": 2, "error": "vp_w must be an integer"}]
    assert len(cookies) == 2  # vid and sid of the first event, for the whole request
    assert rows[2]["vid"] == rows[0]["vid"] and rows[2]["sid"] == rows[0]["sid"]
    assert rows[1]["vid"] == VID and rows[1]["sid"] == rows[0]["sid"]  # its own vid kept


def test_client_columns_follow_the_context_object_on_both(core):
    """The compiled core reuses the last context's client columns while the same
    context object comes back (a batch); any other context is looked up."""
    b = builder(core)
    browser, bot = ctx(), ctx(user_agent="curl/8.0", client_ip="198.51.100.1")
    seen = [b.build({}, c)[0] for c in (browser, browser, bot, bot, browser)]
    assert [(r["bot"], r["ip"]) for r in seen] == [
        (False, "203.0.113.0"), (False, "203.0.113.0"), (True, "198.51.100.0"),
        (True, "198.51.100.0"), (False, "203.0.113.0")]
    assert len({r["iphash"] for r in seen}) == 2
