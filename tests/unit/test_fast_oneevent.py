"""The compiled single-event path (tracker/_fast/oneevent.pyx) against its
oracle, the general request path: the same requests give the same rows and
answers.

One application over a real log: each request goes once to `handle` (the
compiled path, which hands what it does not take to the general path) and
once to `handle_general`; each appends at most one row, read back from the log.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tracker._fast import OneEventPath
from tracker.events import BuilderConfig, ClientIpResolver, EventBuilder
from tracker.http import HttpDate, Request
from tracker.metrics.registry import RouteCounters
from tracker.routes import tracking as tracking_module
from tracker.routes.app import TrackerApp
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor
from tracker.routes.ops import OpsRoutes
from tracker.routes.ratelimit import RateLimitGate
from tracker.routes.tracking import TrackingRoutes
from tracker.wal import Syncer, WalReader, WalWriter

pytestmark = pytest.mark.skipif(OneEventPath is None,
                                reason="compiled only: with the twins there is no such path")

MAX_CHARS = 40  # small, so that generated values cross the limit
TRUSTED = "10.9.0.0/16"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
DATE = re.compile(rb"date: [^\r]*\r\n")


@dataclass
class Stack:
    app: TrackerApp
    ingestor: Ingestor
    writer: WalWriter
    reader: WalReader
    counters: RouteCounters
    loop: asyncio.AbstractEventLoop

    def run(self, handle: Any, request: Request) -> tuple[Any, list[dict[str, Any]]]:
        """`handle(request)` inside the loop, then the rows it appended."""
        async def call() -> Any:
            return handle(request)
        answer = self.loop.run_until_complete(call())
        self.ingestor.commit()
        rows = [row for record in self.reader.read() for row in orjson.loads(record.payload)]
        return answer, rows


def make_stack(tmp: Path, *, origins: tuple[str, ...] = ("*",), cookieless: bool = False,
               quota: int = 1 << 30, fsync: str = "never", rate_limit: Any = None) -> Stack:
    writer = WalWriter(tmp / "wal", worker=0, fsync=fsync, quota_bytes=quota)
    writer.open()
    ingestor = Ingestor(writer, Syncer(writer, fsync, 50))
    rules = BuilderConfig.from_secret(b"k" * 32, cookieless=cookieless, max_field_chars=MAX_CHARS)
    ips = ClientIpResolver([TRUSTED])
    cors = CorsPolicy(origins)
    tracking = TrackingRoutes(EventBuilder(rules), ips, ingestor, cors, 1 << 16)
    counters = RouteCounters()
    ops = OpsRoutes(tmp, 1 << 30, 1, dict)
    app = TrackerApp(tracking, ops, cors, counters, rate_limit=rate_limit)
    return Stack(app, ingestor, writer, WalReader(tmp / "wal", None), counters,
                 asyncio.new_event_loop())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    made = make_stack(tmp_path_factory.mktemp("oneevent"))
    yield made
    made.reader.close()
    made.writer.close()
    made.loop.close()


def get(target: str, headers: dict[str, str] | None = None, *, method: str = "GET",
        peer: str = "203.0.113.9", tls: bool = False, keep_alive: bool = True,
        version: str = "1.1") -> Request:
    path, _, query = target.partition("?")
    base = {"host": "shop.example:8080", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) "
            "AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "accept-language": "fr-FR,fr;q=0.9"}
    if headers is not None:
        base = {k: v for k, v in {**base, **headers}.items() if v is not None}
    return Request(method, path, query, base, b"", peer, tls, keep_alive, version)


def post(body: Any, headers: dict[str, str] | None = None, *, target: str = "/tr/v1/tr/",
         **options: Any) -> Request:
    """A POST of `body` (bytes as they are, anything else as its JSON)."""
    request = get(target, {"content-type": "application/json", **(headers or {})},
                  method="POST", **options)
    request.body = body if type(body) is bytes else orjson.dumps(body)
    return request


def wire(answer: Any) -> bytes:
    """An answer as the HTTP layer writes it to a kept-alive HTTP/1.1 client."""
    if type(answer) is bytes:
        return answer
    return answer.encode(True, HttpDate())


def without_ids(data: bytes) -> bytes:
    return DATE.sub(b"date: -\r\n", UUID.sub(b"<id>", data))


def compare(stack: Stack, request: Request) -> bool:
    """Both paths give the same answer and rows; True when the compiled one answered."""
    taken_before = stack.app.handle.__self__.taken
    fast, fast_rows = stack.run(stack.app.handle, request)
    general, general_rows = stack.run(stack.app.handle_general, request)
    assert without_ids(wire(fast)) == without_ids(wire(general))
    assert len(fast_rows) == len(general_rows)
    for fast_row, general_row in zip(fast_rows, general_rows, strict=True):
        for column in ("eid", "vid", "sid"):  # new ids differ; derived ones do not
            ids = fast_row.pop(column, None), general_row.pop(column, None)
            assert ids[0] == ids[1] or all(UUID.fullmatch(i.encode()) for i in ids)
        assert abs(fast_row.pop("created_at") - general_row.pop("created_at")) < 5000
        assert fast_row == general_row
    taken = stack.app.handle.__self__.taken > taken_before
    if type(fast) is bytes:  # a single event's answer: the cookies set are the row's ids
        cookies = re.findall(rb"Set-Cookie: (vid|sid)=([^;]+);", fast)
        assert [name for name, _ in cookies] == [b"vid", b"sid"]
    return taken


# -- the scope, case by case --------------------------------------------------

PIXEL = "/tr/v1/tr/ename/page_view/url/https%3A%2F%2Fshop.example%2Fp%2F42?utm_source=news"


def test_the_common_request_is_answered_by_the_compiled_path(stack):
    answer, rows = stack.run(stack.app.handle, get(PIXEL))
    assert type(answer) is bytes
    assert answer.startswith(b"HTTP/1.1 204 No Content\r\n")
    row = rows[0]
    assert row["ename"] == "page_view" and row["url"] == "https://shop.example/p/42"
    assert row["source"] == "news" and row["host"] == "shop.example"
    assert row["lang"] == "fr-FR" and row["browser"] and row["iphash"]
    assert row["ip"] == "203.0.113.0"  # anonymized
    vid = re.search(rb"Set-Cookie: vid=([^;]+);", answer).group(1).decode()
    assert row["vid"] == vid
    assert compare(stack, get(PIXEL))


@pytest.mark.parametrize("request_", [
    get(PIXEL, method="HEAD"),
    get(PIXEL, method="POST"),
    get(PIXEL, version="1.0"),
    get(PIXEL, keep_alive=False),
    get(PIXEL, {"cookie": "vid=0190c0de-0000-7000-8000-000000000001"}),
    get("/tr/v1/str/ename/x"),
    get("/tr/v1/tr"),
    get("/tr/v1/tr/ename/x/score/3"),  # not a text field
    get("/tr/v1/tr/ename/x/shoe/42"),  # unknown: params
    get("/tr/v1/tr/ename/x/country/FR"),  # the consent gate's
    get("/tr/v1/tr/ename/x/eid/0190c0de-0000-7000-8000-000000000001"),
    get("/tr/v1/tr/ename/%zz"),
    get("/tr/v1/tr/ename/%C3%28"),  # bad UTF-8
    get("/tr/v1/tr/ename/%ED%A0%80"),  # a surrogate
    get("/tr/v1/tr/ename/%C0%AF"),  # overlong
    get("/tr/v1/tr/e%20name/x"),  # not a key
    get("/tr/v1/tr/ename/" + "x" * (MAX_CHARS + 1)),
    get("/tr/v1/tr/ename/é", {}),  # not an ASCII target
    get(PIXEL, {"user-agent": "Mozilla/5.0 é"}),
    get(PIXEL, {"host": "shop.exampl\u00e9"}),
], ids=lambda r: f"{r.method} {r.path[:40]} {r.http_version}")
def test_what_is_out_of_scope_goes_the_general_way(stack, request_):
    assert not compare(stack, request_)


@pytest.mark.parametrize("target", [
    "/tr/v1/img/ename/x",
    "/tr/v1/tr/ename/x/ename/y",  # the first of a repeated key
    "/tr/v1/tr/ref/a/referrer/b",  # the name wins over its alias
    "/tr/v1/tr/referrer/b/ref/a",
    "/tr/v1/tr/last/a/ref/b",  # the first alias
    "/tr/v1/tr/utm_source/a?source=b",
    "/tr/v1/tr/content/c",  # ename from content
    "/tr/v1/tr/ename/x?utm_content=c",
    "/tr/v1/tr/url/%2F%2Fu%40h%3A1%2F%3Futm_content%3Dq%26utm_term%3Dt",
    "/tr/v1/tr/url/%2F%2Fh.example",
    "/tr/v1/tr/url/no-host",
    "/tr/v1/tr/url/",
    "/tr/v1/tr/url/https%3A%2F%2F%5B2001%3Adb8%3A%3A1%5D%3A8080%2F",
    "/tr/v1/tr/host/given.example/url/https%3A%2F%2Fh.example",
    "/tr/v1/tr/device/kiosk/lang/de",  # over the client's columns
    "/tr/v1/tr/ename/a%22b%5Cc%0Ad%01",  # JSON escapes
    "/tr/v1/tr/ename/%F0%9F%98%80%E2%80%A8",
    "/tr/v1/tr/ename/" + "é" * MAX_CHARS,  # characters, not bytes, count
    "/tr/v1/tr//ename//x//",
    "/tr/v1/tr/ename",
    "/tr/v1/tr/?ename=a+b&&tid&url=x%2By",
    "/tr/v1/tr/%65name/x",
])
def test_in_scope_requests_match_the_general_path(stack, target):
    assert compare(stack, get(target.replace("é", quote("é"))))


def test_the_host_header_without_port_when_the_url_has_no_host(stack):
    for host in ("[2001:db8::1]:443", "h.example", "", 'q"uote'):
        assert compare(stack, get("/tr/v1/tr/ename/x", {"host": host}))


def test_forwarded_addresses_from_trusted_and_untrusted_peers(stack):
    for peer in ("10.9.1.1", "203.0.113.5"):
        for headers in ({"x-forwarded-for": "198.51.100.7, 10.9.3.3"}, {"x-real-ip": "192.0.2.1"},
                        {}):
            assert compare(stack, get("/tr/v1/tr/ename/x", headers, peer=peer))


def test_tls_cookies_are_secure(stack):
    answer, _ = stack.run(stack.app.handle, get(PIXEL, tls=True))
    assert answer.count(b"; Secure\r\n") == 2
    assert compare(stack, get(PIXEL, tls=True))


def test_too_many_pairs_is_the_general_paths_400(stack):
    many = "/".join(f"ename/{i}" for i in range(257))
    answer, rows = stack.run(stack.app.handle, get("/tr/v1/tr/" + many))
    assert wire(answer).startswith(b"HTTP/1.1 400") and not rows
    assert not compare(stack, get("/tr/v1/tr/ename/x?" + "&".join(["tid=1"] * 257)))


def test_metrics_count_the_compiled_answers(tmp_path):
    stack = make_stack(tmp_path)
    for target in (PIXEL, PIXEL, "/tr/v1/img/ename/x", "/tr/v1/tr/score/1"):
        stack.run(stack.app.handle, get(target))
    exported = stack.counters.to_dict()
    counts = {(r["route"], r["status"]): r["count"] for r in exported["requests"]}
    assert counts == {("tr", 204): 3, ("img", 200): 1}
    assert exported["latency"]["count"] == 4 == sum(exported["latency"]["counts"])
    assert stack.counters.to_dict()["requests"] == exported["requests"]  # flushed once


def test_a_full_log_answers_503_and_stores_nothing(tmp_path):
    stack = make_stack(tmp_path, quota=1)
    answer, rows = stack.run(stack.app.handle, get(PIXEL))
    general, _ = stack.run(stack.app.handle_general, get(PIXEL))
    assert without_ids(wire(answer)) == without_ids(wire(general))
    assert wire(answer).startswith(b"HTTP/1.1 503") and not rows
    assert stack.ingestor.rejected_full == 2  # once per request
    counts = {(r["route"], r["status"]) for r in stack.counters.to_dict()["requests"]}
    assert counts == {("tr", 503)}


@pytest.mark.parametrize("options", [
    {"origins": ("https://shop.example",)},  # CORS reflects the Origin
    {"cookieless": True},
    {"fsync": "always"},
    {"rate_limit": object()},
])
def test_configurations_the_compiled_path_does_not_serve(tmp_path, options):
    if options.get("rate_limit"):
        options["rate_limit"] = RateLimitGate.__new__(RateLimitGate)  # never asked here
    stack = make_stack(tmp_path, **options)
    assert stack.app.handle == stack.app.handle_general
    stack.writer.close()


# -- POST ---------------------------------------------------------------------

EVENT = {"ename": "add_to_cart", "etyp": "click", "url": "https://s.ex/p?utm_source=n",
         "oid": "site-1", "vp_w": 1280, "vp_h": 720, "params": {"sku": "A-42", "qty": 2}}


def test_a_posted_event_is_answered_by_the_compiled_path(stack):
    answer, rows = stack.run(stack.app.handle, post(EVENT))
    assert type(answer) is bytes and answer.startswith(b"HTTP/1.1 204 No Content\r\n")
    row = rows[0]
    assert row["vp_w"] == 1280 and row["params"] == {"sku": "A-42", "qty": 2}
    assert row["source"] == "n" and row["host"] == "s.ex"
    assert compare(stack, post(EVENT))


@pytest.mark.parametrize("body", [
    {"ename": "x", "tid": None, "params": None},  # null is absent
    {"ref": "a", "referrer": "b"},
    {"referrer": "b", "ref": "a"},
    {"last": "a", "ref": "b", "utm_term": "t", "term": "u"},
    {"content": "c", "url": "//h.example/x?utm_content=d"},
    {"ename": "é\u2028\"\\\n😀", "vp_w": 0, "vp_h": 2**63 - 1, "cflags": 3},
    {"ename": "x" * MAX_CHARS},
    {"params": {"nested": {"a": [1, 2.5, None, True]}, "s": "é"}},
    {"device": "kiosk", "lang": "de"},
    {"score": 1.5, "revenue": 3, "amt": 2.5},  # the name over its alias
    {"amt": 1e16, "score": -0.0},
    {"score": 5e-324, "revenue": -(2**63)},
    b'{"score": 1180591620717411303424}',  # read as a float
    {"ename": "x", "params": {"p": "y" * 9000}},  # a large body
    {},
], ids=lambda body: repr(body)[:60])
def test_posted_objects_in_scope_match_the_general_path(stack, body):
    assert compare(stack, post(body))


@pytest.mark.parametrize("request_", [
    post(EVENT, target="/tr/v1/tr/?oid=1"),  # URL fields are merged
    post(EVENT, target="/tr/v1/tr/oid/1"),
    post(EVENT, target="/tr/v1/str/"),
    post(EVENT, {"content-type": "application/json; charset=utf-8"}),
    post(EVENT, {"content-type": "application/xml"}),
    post(EVENT, {"content-encoding": "gzip"}),
    post(EVENT, {"cookie": "sid=1"}),
    post(b""),
    post(b" \n"),
    post(b"{not json"),
    post(b"[1]"),
    post({"batch": 1, "ename": "x"}),  # an unknown field, not a batch
    post({"batch": 1}),
    post({"batch": []}),
    post([]),
    post([EVENT, {"ename": "x", "shoe": 1}]),  # one event out of scope: all general
    post([EVENT, "x"]),
    post([EVENT, {"country": "FR"}]),
    post([{"ename": "x"}] * 10_001),  # too many
    post({"country": None}),
    post({"country": "FR"}),
    post({"score": "1.5"}),  # text: the general path converts it
    post({"score": True}),
    post(b'{"score": 1e400}'),  # not finite
    post({"lat": 1.0}),  # bounded: its own converter
    post({"shoe": 42}),
    post({"ename": 42}),  # numbers become text
    post({"ename": "x" * (MAX_CHARS + 1)}),
    post({"vp_w": -1}),
    post({"vp_w": 2**63}),
    post({"vp_w": True}),
    post({"vp_w": "12"}),
    post({"params": {}}),
    post({"params": {"email": "a@b.example"}}),
    post({"params": {"x": "y" * 20000}}),
    post({"params": [1]}),
    post(b'{"ename": "\\ud800"}'),  # a lone surrogate
    post(b' {"batch": [], "ename": "x"}'),  # left to the general path unparsed
    post({"ename": "x", "tid": "y" * 9000}),  # a large body too
], ids=lambda r: f"{r.path} {r.headers.get('content-type')} {r.body[:30]!r}")
def test_posted_requests_out_of_scope_go_the_general_way(stack, request_):
    assert not compare(stack, request_)


@pytest.mark.parametrize("body", [
    [EVENT, EVENT],
    {"batch": [EVENT, {"ename": "x", "content": "c"}, {"url": "//h/?utm_term=t"}]},
    [{"ename": str(i), "vp_w": i} for i in range(200)],
    [{}],
], ids=["list", "batch", "200", "empty-object"])
@pytest.mark.parametrize("target", ["/tr/v1/tr/", "/tr/v1/img/"])
def test_posted_batches_in_scope_match_the_general_path(stack, body, target):
    assert compare(stack, post(body, target=target))
    _, rows = stack.run(stack.app.handle, post(body, target=target))
    assert len({row["vid"] for row in rows}) == 1 == len({row["sid"] for row in rows})
    assert len({row["eid"] for row in rows}) == len(rows)


@pytest.mark.parametrize("body", [
    [EVENT, {"ename": "x", "shoe": 1}],  # a batch with an event out of scope
    {"ename": "x", "shoe": 1},  # one event out of scope
])
def test_a_body_parsed_here_is_not_parsed_again_by_the_general_path(stack, body, monkeypatch):
    parses = []
    real = tracking_module.parse_events
    monkeypatch.setattr(tracking_module, "parse_events",
                        lambda data: parses.append(data) or real(data))
    request = post(body)
    answer, rows = stack.run(stack.app.handle, request)
    assert parses == [] and len(rows) == (2 if type(body) is list else 1)
    general, _ = stack.run(stack.app.handle_general, request)
    assert len(parses) == 1  # the general path alone parses it itself
    assert without_ids(wire(answer)) == without_ids(wire(general))


# -- random and hostile requests ------------------------------------------------

PLAIN_FIELDS = EventBuilder(BuilderConfig.from_secret(b"k" * 32)).plain_fields
TEXT_NAMES = sorted(name for name, (_, kind, _) in PLAIN_FIELDS.items() if kind == "text")
OTHER_NAMES = ["score", "vp_w", "eid", "vid", "country", "params", "email", "ip", "bot",
               "shoe", "a.b-c", "ts"]
# Mostly text fields, so that most requests are the compiled path's to take.
key = st.one_of(*[st.sampled_from(TEXT_NAMES)] * 12, st.sampled_from(OTHER_NAMES),
                st.text(alphabet="aeprf_ .%-+é", min_size=0, max_size=5))
value = st.one_of(
    st.text(max_size=MAX_CHARS + 2),
    st.text(alphabet="abc%+&=/?#:@[]\"\\\n", max_size=8),
    st.sampled_from(["https://shop.example/p?utm_source=a&utm_term=b", "//h.example:9/x",
                     "http://u@[::1]:80/p", "a/b&c=d", "+%", "", "x" * (MAX_CHARS + 1)]),
)


def encode_part(text: str, draw: Any, hostile: bool = True) -> str:
    """`text` percent-encoded, each character maybe left as it is (when safe) or
    escaped; sometimes a broken escape."""
    out = []
    for char in text:
        if char.isascii() and char.isalnum() and draw(st.booleans()):
            out.append(char)
        else:
            surrogate = "\ud800" <= char <= "\udfff"  # not UTF-8: its would-be bytes
            out.append("%ED%A0%80" if surrogate else quote(char, safe=""))
    if hostile and draw(st.integers(0, 60)) == 37:  # not 0 or 60: Hypothesis favours the bounds
        out.append(draw(st.sampled_from(["%", "%zz", "%C3%28", "%C0%AF", "%F4%90%80%80"])))
    return "".join(out)


IN_SCOPE_NAMES = [name for name in TEXT_NAMES if name != "country"]
in_scope_key = st.sampled_from(IN_SCOPE_NAMES)
in_scope_value = st.one_of(st.text(max_size=MAX_CHARS),
                           st.text(alphabet="%+&=/?#:@\"\\\n", max_size=MAX_CHARS),
                           st.sampled_from(["https://s.ex/p?utm_source=a&utm_term=b",
                                            "//h.example:9/x", "http://u@[::1]:80/p"]))


@st.composite
def requests(draw: Any, hostile: bool = True) -> Request:
    """Requests to the tracking routes; `hostile`: any keys and values, broken
    escapes, other routes and cookies; else only what the compiled path takes."""
    if hostile:
        pairs = draw(st.lists(st.tuples(key, value), max_size=6))
    else:
        pairs = draw(st.lists(st.tuples(in_scope_key, in_scope_value), max_size=6))
    in_path = draw(st.integers(0, len(pairs)))
    path_parts = []
    for k, v in pairs[:in_path]:
        path_parts.append(encode_part(k, draw, hostile))
        # An empty segment is skipped, which shifts the pairs after it.
        path_parts.append(encode_part(v, draw, hostile) or ("" if hostile else "-"))
    if draw(st.booleans()) and path_parts:
        path_parts.pop()  # a key without a value
    separator = draw(st.sampled_from(["/", "/", "//"]))
    prefixes = ["/tr/v1/tr/", "/tr/v1/tr/", "/tr/v1/img/"] + (["/tr/v1/str/"] if hostile else [])
    prefix = draw(st.sampled_from(prefixes))
    query_parts = []
    for k, v in pairs[in_path:]:
        k = encode_part(k, draw, hostile)
        if draw(st.integers(0, 6)) == 3:
            query_parts.append(k)
        else:
            query_parts.append(k + "=" + encode_part(v, draw, hostile).replace("%20", "+"))
    target = prefix + separator.join(path_parts)
    if query_parts:
        target += "?" + "&".join(query_parts)
    headers = {
        "user-agent": draw(st.sampled_from([
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1",
            "curl/8.0", "Googlebot/2.1", "", None])),
        "accept-language": draw(st.sampled_from(["de-DE,de;q=0.8", "*", "", None])),
        "host": draw(st.sampled_from(["shop.example", "h:1", "[::1]:8", "", None])),
    }
    if draw(st.integers(0, 8)) == 5:
        headers["x-forwarded-for"] = "198.51.100.7"
    if hostile and draw(st.integers(0, 20)) == 13:
        headers["cookie"] = "sid=x"
    peer = draw(st.sampled_from(["203.0.113.9", "10.9.0.1", "2001:db8::7"]))
    return get(target, headers, peer=peer, tls=draw(st.booleans()))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_random_and_hostile_requests_match_the_general_path(stack, request):
    event("compiled" if compare(stack, request) else "general")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests(hostile=False))
def test_random_requests_in_scope_are_taken_and_match_the_general_path(stack, request):
    assert compare(stack, request)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**64, 2**64),
                      st.floats(allow_nan=False, allow_infinity=False),
                      st.text(max_size=MAX_CHARS + 2))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6)
posted_key = st.one_of(*[st.sampled_from(sorted(PLAIN_FIELDS))] * 8, st.sampled_from(OTHER_NAMES),
                       st.text(max_size=4))


@st.composite
def posted_value(draw: Any, name: str) -> Any:
    kind = PLAIN_FIELDS.get(name, ("", "", False))[1]
    if kind == "text" and draw(st.integers(0, 4)):
        return draw(st.text(max_size=MAX_CHARS))
    if kind == "count" and draw(st.integers(0, 4)):
        return draw(st.integers(0, 2**63 - 1))
    if kind == "object" and draw(st.integers(0, 4)):
        return draw(st.dictionaries(st.text(max_size=6), json_value, min_size=1, max_size=4))
    return draw(json_value)


@st.composite
def posted_requests(draw: Any) -> Request:
    def one_event() -> dict[str, Any]:
        names = draw(st.lists(posted_key, max_size=6, unique=True))
        return {name: draw(posted_value(name)) for name in names}

    shape = draw(st.sampled_from(["object", "object", "list", "batch"]))
    body: Any = one_event()
    if shape != "object":
        body = [body] + [one_event() for _ in range(draw(st.integers(0, 3)))]
        body = body if shape == "list" else {"batch": body}
    # json, not orjson: it writes integers past 64 bits (which orjson then refuses to read)
    raw = json.dumps(body).encode() if draw(st.integers(0, 30)) != 17 else draw(st.binary())
    headers = {"content-type": draw(st.sampled_from(
        ["application/json", "application/json", "text/plain", "", "text/html"]))}
    return post(raw, headers, target=draw(st.sampled_from(["/tr/v1/tr/", "/tr/v1/img/"])),
                tls=draw(st.booleans()))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=posted_requests())
def test_random_posted_events_match_the_general_path(stack, request):
    event("compiled" if compare(stack, request) else "general")
