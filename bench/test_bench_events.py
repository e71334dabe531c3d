"""build() of typical events: the per-event enrichment cost on the request path.

Run: .venv/bin/pytest bench/test_bench_events.py --benchmark-only
(the mean is the cost of one event, with warm UA/IP caches as in a busy worker).
"""

from tracker.events import BuilderConfig, EventBuilder, RequestContext

SECRET = bytes(range(32))
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
      "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
PAGE_VIEW = {
    "ename": "page_view",
    "etyp": "view",
    "url": "https://shop.example.com/products/red-shoes?size=42",
    "ref": "https://www.google.com/",
    "oid": "shop",
    "tz": "Europe/Berlin",
    "vp_w": 1440,
    "vp_h": 900,
    "vid": "0190a6f2-7c3b-7d4e-8f00-123456789abc",
}


def _ctx() -> RequestContext:
    return RequestContext(client_ip="203.0.113.77", user_agent=UA,
                          accept_language="de-DE,de;q=0.9,en;q=0.8",
                          host="t.example.com", tls=True, now_ms=1_700_000_000_000,
                          cookie_vid="0190a6f2-7c3b-7d4e-8f00-123456789abc",
                          cookie_sid="0190a6f2-7c3b-7d4e-8f00-cba987654321",
                          cookie_consent=7)


def test_bench_page_view(benchmark):
    builder = EventBuilder(BuilderConfig.from_secret(SECRET))
    ctx = _ctx()
    row, cookies = benchmark(builder.build, PAGE_VIEW, ctx)
    assert row["ip"] == "203.0.113.0" and row["browser"] == "Chrome"
    assert len(cookies.set_cookie) == 1


def test_bench_campaign_event_with_extras(benchmark):
    builder = EventBuilder(BuilderConfig.from_secret(SECRET))
    fields = dict(PAGE_VIEW, url=PAGE_VIEW["url"] + "&utm_source=news&utm_medium=email",
                  email="someone@example.com", plan="pro", items=3)
    row, _ = benchmark(builder.build, fields, _ctx())
    assert row["source"] == "news" and row["params"] == {"plan": "pro", "items": 3}


def test_bench_cookieless_page_view(benchmark):
    builder = EventBuilder(BuilderConfig.from_secret(SECRET, cookieless=True))
    row, cookies = benchmark(builder.build, PAGE_VIEW, _ctx())
    assert cookies.set_cookie == () and row["vid"][14] == "8"
