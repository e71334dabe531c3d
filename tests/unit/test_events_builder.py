"""EventBuilder: from raw fields and request context to an `events` row."""

import re

import orjson
import pytest

from tracker.events import (
    BuilderConfig,
    EventBuilder,
    FieldError,
    KeyedHasher,
    RequestContext,
)
from tracker.model.tables import EVENTS

SECRET = bytes(range(32))
NOW = 1_700_000_000_000
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
VID = "0190a6f2-7c3b-7d4e-8f00-123456789abc"
SID = "0190a6f2-7c3b-7d4e-8f00-cba987654321"


def make_builder(**kwargs) -> EventBuilder:
    return EventBuilder(BuilderConfig.from_secret(SECRET, **kwargs))


def make_ctx(**kwargs) -> RequestContext:
    base = dict(client_ip="203.0.113.77", user_agent=CHROME,
                accept_language="de-CH,de;q=0.9,en;q=0.8", host="track.example:8080",
                tls=False, now_ms=NOW)
    base.update(kwargs)
    return RequestContext(**base)


@pytest.fixture
def builder() -> EventBuilder:
    return make_builder()


def build(builder, fields, **ctx):
    return builder.build(fields, make_ctx(**ctx))


def test_typical_page_view(builder):
    fields = {"ename": "page_view", "etyp": "view", "url": "https://Shop.example/Cart?x=1",
              "oid": "site-1", "vp_w": 1280, "vp_h": 720, "tz": "Europe/Zurich"}
    row, cookies = build(builder, fields)
    assert row["ename"] == "page_view" and row["etyp"] == "view"
    assert row["url"] == "https://Shop.example/Cart?x=1"
    assert row["host"] == "Shop.example"
    assert row["created_at"] == NOW
    assert UUID.match(row["eid"]) and row["eid"][14] == "7"
    assert UUID.match(row["vid"]) and UUID.match(row["sid"])
    assert row["ip"] == "203.0.113.0"
    assert row["iphash"] == KeyedHasher(SECRET).hash("ip", "203.0.113.77")
    assert (row["device"], row["os"], row["browser"], row["bot"]) == (
        "desktop", "Windows", "Chrome", False)
    assert row["lang"] == "de-CH"
    assert row["vp_w"] == 1280 and row["tz"] == "Europe/Zurich"
    assert "params" not in row and "cflags" not in row
    assert set(row) <= set(EVENTS.column_names)
    assert None not in row.values()
    assert cookies.set_cookie == (
        f"vid={row['vid']}; Max-Age=63072000; Path=/; SameSite=Lax",
        f"sid={row['sid']}; Max-Age=1800; Path=/; SameSite=Lax",
    )


def test_every_not_null_column_is_set(builder):
    row, _ = build(builder, {})
    required = {c.name for c in EVENTS.columns if not c.nullable}
    assert required <= set(row)


def test_null_values_are_absent(builder):
    row, _ = build(builder, {"ename": None, "uid": None, "whatever": None})
    assert "ename" not in row and "uid" not in row and "params" not in row


def test_valid_client_eid_kept_normalized_else_new(builder):
    row, _ = build(builder, {"eid": VID.upper()})
    assert row["eid"] == VID
    row, _ = build(builder, {"eid": "retry-1"})
    assert UUID.match(row["eid"]) and row["eid"] != "retry-1"
    row2, _ = build(builder, {"eid": 17})
    assert row2["eid"] != row["eid"]


def test_vid_from_body_then_cookie_then_new(builder):
    row, cookies = build(builder, {"vid": VID.upper()}, cookie_vid=SID)
    assert row["vid"] == VID
    assert cookies.set_cookie[0].startswith(f"vid={VID};")  # browser gets the body's id
    row, cookies = build(builder, {}, cookie_vid=VID)
    assert row["vid"] == VID
    assert [c for c in cookies.set_cookie if c.startswith("vid=")] == []  # already held
    row, cookies = build(builder, {}, cookie_vid="garbage")
    assert UUID.match(row["vid"]) and row["vid"] != "garbage"
    assert cookies.set_cookie[0].startswith(f"vid={row['vid']};")


def test_sid_from_body_then_cookie_then_new_and_always_reset(builder):
    row, cookies = build(builder, {"sid": SID}, cookie_sid=VID)
    assert row["sid"] == SID
    assert cookies.set_cookie[-1] == f"sid={SID}; Max-Age=1800; Path=/; SameSite=Lax"
    row, cookies = build(builder, {}, cookie_vid=VID, cookie_sid=SID)
    assert row["sid"] == SID
    assert cookies.set_cookie == (f"sid={SID}; Max-Age=1800; Path=/; SameSite=Lax",)
    row, _ = build(builder, {})
    assert UUID.match(row["sid"]) and row["sid"] != row["vid"]


def test_cookies_are_secure_over_tls(builder):
    _, cookies = build(builder, {}, tls=True)
    assert len(cookies.set_cookie) == 2
    assert all(c.endswith("; SameSite=Lax; Secure") for c in cookies.set_cookie)


@pytest.mark.parametrize("name", ["vid", "sid"])
def test_invalid_client_ids_are_field_errors(builder, name):
    with pytest.raises(FieldError, match=f"^{name} must be a UUID$"):
        build(builder, {name: "not-a-uuid"})


def test_aliases(builder):
    row, _ = build(builder, {"ref": "https://ref.example/", "amt": "9.99", "ts": 1_600_000_000_000,
                             "utm_source": "Newsletter", "utm_medium": "email",
                             "utm_campaign": "Spring", "utm_term": "Shoes"})
    assert row["referrer"] == "https://ref.example/"
    assert row["revenue"] == 9.99
    assert row["client_ts"] == 1_600_000_000_000
    assert (row["source"], row["medium"], row["campaign"], row["term"]) == (
        "Newsletter", "email", "Spring", "Shoes")
    row, _ = build(builder, {"last": "https://last.example/"})
    assert row["referrer"] == "https://last.example/"
    for key in ("ref", "amt", "ts", "utm_source", "last"):
        assert key not in row


@pytest.mark.parametrize("order", [("ref", "referrer"), ("referrer", "ref")])
def test_name_wins_over_alias_in_any_order(builder, order):
    values = {"ref": "alias", "referrer": "name"}
    row, _ = build(builder, {key: values[key] for key in order})
    assert row["referrer"] == "name"


def test_ename_defaults_to_content(builder):
    row, _ = build(builder, {"content": "Buy Button"})
    assert row["ename"] == "Buy Button" and row["content"] == "Buy Button"
    row, _ = build(builder, {"content": "Buy Button", "ename": "click"})
    assert row["ename"] == "click"
    row, _ = build(builder, {"utm_content": "Banner A"})
    assert row["ename"] == "Banner A"
    row, _ = build(builder, {"url": "https://e.com/?utm_content=FromUrl"})
    assert row["content"] == "FromUrl" and "ename" not in row


def test_campaign_from_url_fills_only_missing(builder):
    url = "https://e.com/p?utm_source=Google&utm_medium=cpc&utm_campaign=Brand"
    row, _ = build(builder, {"url": url, "source": "Override"})
    assert (row["source"], row["medium"], row["campaign"]) == ("Override", "cpc", "Brand")
    assert "term" not in row


def test_a_page_url_is_parsed_once_and_the_memory_stays_bounded(builder, monkeypatch):
    import tracker.events.builder as builder_module

    url = "https://e.com/p?utm_source=Mail&utm_campaign=Spring"
    for _ in range(2):  # the second event comes from the cache, with the same fields
        row, _ = build(builder, {"url": url, "source": "Override" if _ else None})
    assert (row["source"], row["campaign"]) == ("Override", "Spring")
    assert build(builder, {"url": url})[0]["source"] == "Mail"  # the cache was not changed
    monkeypatch.setattr(builder_module, "CAMPAIGN_CACHE_ENTRIES", 3)
    for i in range(10):
        assert build(builder, {"url": f"{url}&utm_term=T{i}"})[0]["term"] == f"T{i}"
        assert len(builder._campaign_cache) <= 3


def test_host_field_then_url_then_host_header(builder):
    assert build(builder, {"host": "Declared.example", "url": "https://u.example/"})[0][
        "host"] == "Declared.example"
    assert build(builder, {"url": "https://U.example:444/x"})[0]["host"] == "U.example"
    assert build(builder, {"url": "/relative"})[0]["host"] == "track.example"
    assert build(builder, {})[0]["host"] == "track.example"
    assert "host" not in build(builder, {}, host="")[0]


def test_typed_fields_from_text(builder):
    fields = {"vp_w": "1920", "vp_h": "1080", "score": "0.75", "revenue": "12",
              "lat": "47.37", "lon": "-8.54", "cflags": "5", "bot": "true",
              "client_ts": "2023-11-14T22:13:20Z"}
    row, _ = build(builder, fields)
    assert (row["vp_w"], row["vp_h"], row["cflags"]) == (1920, 1080, 5)
    assert (row["score"], row["revenue"], row["lat"], row["lon"]) == (0.75, 12.0, 47.37, -8.54)
    assert row["bot"] is True
    assert row["client_ts"] == 1_700_000_000_000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vp_w": "wide"}, "vp_w must be an integer"),
        ({"vp_h": 1.5}, "vp_h must be an integer"),
        ({"cflags": -1}, "cflags must be between 0 and"),
        ({"score": "high"}, "score must be a number"),
        ({"amt": [1]}, "amt must be a number"),
        ({"lat": 91}, "lat must be between -90 and 90"),
        ({"lon": "-181"}, "lon must be between -180 and 180"),
        ({"bot": "perhaps"}, "bot must be true or false"),
        ({"ts": "last tuesday"}, "ts must be milliseconds since 1970 or an ISO-8601 time"),
        ({"uid": {"id": 1}}, "uid must be a string"),
        ({"ename": True}, "ename must be a string"),
        ({"params": [1, 2]}, "params must be a JSON object"),
        ({"email": ["a@b.c"]}, "email must be a string"),
    ],
)
def test_bad_types_give_clear_field_errors(builder, fields, message):
    with pytest.raises(FieldError) as info:
        build(builder, fields)
    assert info.value.message.startswith(message)


def test_ids_accept_numbers_as_text(builder):
    row, _ = build(builder, {"uid": 42, "oid": 7, "tid": 1.5})
    assert (row["uid"], row["oid"], row["tid"]) == ("42", "7", "1.5")


def test_bot_from_user_agent_unless_given(builder):
    bot_ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    row, _ = build(builder, {}, user_agent=bot_ua)
    assert row["bot"] is True and row["device"] == "bot"
    row, _ = build(builder, {"bot": False}, user_agent=bot_ua)
    assert row["bot"] is False


def test_declared_context_fields_win_over_derived(builder):
    fields = {"device": "Kiosk", "os": "CustomOS", "browser": "InApp", "lang": "fr-CA",
              "country": "CH", "region": "ZH", "city": "Zürich", "lat": 47.3, "lon": 8.5}
    row, _ = build(builder, fields)
    for key, value in fields.items():
        assert row[key] == value


def test_empty_user_agent_and_language(builder):
    row, _ = build(builder, {}, user_agent="", accept_language="")
    assert (row["device"], row["os"], row["browser"], row["bot"]) == (
        "other", "other", "other", False)
    assert "lang" not in row
    assert "lang" not in build(builder, {}, accept_language="*")[0]


def test_cflags_from_consent_cookie_unless_given(builder):
    assert build(builder, {}, cookie_consent=7)[0]["cflags"] == 7
    assert build(builder, {"cflags": 1}, cookie_consent=7)[0]["cflags"] == 1


def test_case_is_preserved_everywhere(builder):
    fields = {"ename": "Add To Cart", "uid": "User-ABC", "url": "https://E.com/Path?Q=V",
              "referrer": "https://Ref.COM/", "currency": "EUR", "split": "Variant-B",
              "utm_campaign": "Black-FRIDAY", "Custom_Key": "Some Value"}
    row, _ = build(builder, fields)
    assert row["ename"] == "Add To Cart" and row["uid"] == "User-ABC"
    assert row["url"] == "https://E.com/Path?Q=V" and row["referrer"] == "https://Ref.COM/"
    assert row["split"] == "Variant-B" and row["campaign"] == "Black-FRIDAY"
    assert row["params"] == {"Custom_Key": "Some Value"}


def test_unknown_fields_go_to_params_merged_with_explicit(builder):
    given = {"plan": "Pro", "seats": 3}
    fields = {"params": given, "color": "Red", "seats": 5, "nested": {"a": [1, 2]}, "flag": True}
    row, _ = build(builder, fields)
    assert row["params"] == {"plan": "Pro", "seats": 3, "color": "Red",
                             "nested": {"a": [1, 2]}, "flag": True}
    assert given == {"plan": "Pro", "seats": 3}  # the caller's object is untouched
    assert "color" not in row


def test_params_as_json_text_from_a_query(builder):
    row, _ = build(builder, {"params": '{"k":"V"}', "x": "1"})
    assert row["params"] == {"k": "V", "x": "1"}


def test_limits(builder):
    with pytest.raises(FieldError, match="url is longer than 8192 characters"):
        build(builder, {"url": "h" * 8193})
    with pytest.raises(FieldError, match="note is longer than 8192 characters"):
        build(builder, {"note": "n" * 8193})
    with pytest.raises(FieldError, match="params is larger than 16384 bytes"):
        build(builder, {"params": {f"k{i}": "v" * 100 for i in range(200)}})
    small = make_builder(max_field_chars=5, max_params_bytes=20)
    with pytest.raises(FieldError, match="ename is longer than 5 characters"):
        build(small, {"ename": "abcdef"})
    with pytest.raises(FieldError, match="params is larger than 20 bytes"):
        build(small, {"a": "1234", "b": "1234", "c": "1234"})


def test_server_owned_fields_are_ignored(builder):
    row, _ = build(builder, {"created_at": 5, "ip": "198.51.100.1", "iphash": "x", "ehash": "y"})
    assert row["created_at"] == NOW and row["ip"] == "203.0.113.0"
    assert row["iphash"] != "x" and "ehash" not in row and "params" not in row


def test_personal_data_is_hashed_and_never_stored_in_clear(builder):
    hasher = KeyedHasher(SECRET)
    fields = {"email": "Alice.Smith@Example.com", "cell": "+1 (555) 010-7788",
              "uname": "AliceS", "params": {"email": "Bob.Jones@Example.org", "keep": 1},
              "note": "hi"}
    row, cookies = build(builder, fields, client_ip="203.0.113.77")
    assert row["ehash"] == hasher.hash("email", "alice.smith@example.com")
    assert row["chash"] == hasher.hash("cell", "+15550107788")
    assert row["uhash"] == hasher.hash("uname", "AliceS")
    assert row["params"] == {"keep": 1, "note": "hi"}
    blob = orjson.dumps(row) + "".join(cookies.set_cookie).encode()
    # The phone in every form it could leak in; not its short digit runs, which a
    # random hash or UUID in the blob may hold by chance.
    for clear in (b"Alice", b"alice", b"Example", b"Bob", b"(555)", b"010-7788",
                  b"5550107788", b"203.0.113.77"):
        assert clear not in blob
    assert fields["params"] == {"email": "Bob.Jones@Example.org", "keep": 1}


def test_params_personal_data_hashed_when_no_top_level_value(builder):
    row, _ = build(builder, {"params": {"uname": "Carol"}})
    assert row["uhash"] == KeyedHasher(SECRET).hash("uname", "Carol")
    assert "params" not in row


def test_blank_personal_values_give_no_hash(builder):
    row, _ = build(builder, {"email": "  ", "cell": ""})
    assert "ehash" not in row and "chash" not in row


def test_ipv6_anonymized_to_48(builder):
    row, _ = build(builder, {}, client_ip="2001:db8:abcd:12:34::9")
    assert row["ip"] == "2001:db8:abcd::"
    assert row["iphash"] == KeyedHasher(SECRET).hash("ip", "2001:db8:abcd:12:34::9")


def test_clear_ip_kept_when_anonymization_is_off():
    row, _ = build(make_builder(anonymize_ip=False), {})
    assert row["ip"] == "203.0.113.77"


def test_unparsable_client_ip_is_not_stored(builder):
    row, _ = build(builder, {}, client_ip="unix-socket")
    assert "ip" not in row and len(row["iphash"]) == 64


def test_cookieless_config_sets_no_cookies_and_derives_ids():
    builder = make_builder(cookieless=True)
    row1, cookies = build(builder, {"oid": "site"}, cookie_vid=VID, cookie_sid=SID)
    assert cookies.set_cookie == ()
    assert row1["vid"] not in (VID, SID) and row1["sid"] not in (VID, SID)
    assert row1["vid"][14] == "8" and row1["sid"][14] == "8"
    # Same site, /24 and browser on the same day: same visitor, even with a body vid.
    row2, _ = build(builder, {"oid": "site", "vid": VID}, client_ip="203.0.113.5",
                    now_ms=NOW + 3_600_000)
    assert (row2["vid"], row2["sid"]) == (row1["vid"], row1["sid"])
    row3, _ = build(builder, {"oid": "site"}, now_ms=NOW + 86_400_000)
    assert row3["vid"] != row1["vid"]
    row4, _ = build(builder, {"oid": "other-site"})
    assert row4["vid"] != row1["vid"]


def test_cookieless_uses_full_ip_when_not_anonymizing():
    builder = make_builder(cookieless=True, anonymize_ip=False)
    a, _ = build(builder, {}, client_ip="203.0.113.5")
    b, _ = build(builder, {}, client_ip="203.0.113.6")
    assert a["vid"] != b["vid"]


def test_cookieless_form_per_request_switch(builder):
    row, cookies = builder.build({"oid": "s"}, make_ctx(cookie_vid=VID), cookieless_form=True)
    assert cookies.set_cookie == () and row["vid"] != VID
    forced_on = make_builder(cookieless=True)
    row, cookies = forced_on.build({}, make_ctx(cookie_vid=VID), cookieless_form=False)
    assert row["vid"] == VID and len(cookies.set_cookie) == 1


def test_caller_fields_are_not_changed(builder):
    fields = {"ename": "x", "email": "a@b.c", "extra": "y", "ref": "r"}
    snapshot = dict(fields)
    build(builder, fields)
    assert fields == snapshot
