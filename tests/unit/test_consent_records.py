"""build_agreement: POST /tr/v1/ppi/agree bodies -> `agreements` rows."""

import re

import orjson
import pytest

from tests.geoip_fixture import write_city_db
from tracker.consent import build_agreement
from tracker.events import FieldError, KeyedHasher, RequestContext
from tracker.geo import GeoIp
from tracker.model.tables import AGREEMENTS

SECRET = bytes(range(32))
NOW = 1_700_000_000_000
VID = "0190a6f2-7c3b-7d4e-8f00-123456789abc"
AID = "0190a6f2-7c3b-7d4e-8f00-aaaaaaaaaaaa"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
HASHER = KeyedHasher(SECRET)


def make_ctx(**kwargs) -> RequestContext:
    base = dict(client_ip="203.0.113.77", user_agent="Mozilla/5.0 (X11; Linux x86_64)",
                accept_language="de-CH,de;q=0.9,en;q=0.8", host="track.example",
                tls=False, now_ms=NOW)
    base.update(kwargs)
    return RequestContext(**base)


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoIp:
    with GeoIp(write_city_db(tmp_path_factory.mktemp("geo") / "city.mmdb")) as g:
        yield g


def agree(body, geo=None, anonymize=True, **ctx):
    return build_agreement(body, make_ctx(**ctx), HASHER, anonymize, geo)


def test_a_typical_agreement(geo) -> None:
    row = agree({"vid": VID.upper(), "cflags": 5, "oid": "site-1", "uid": "u-7",
                 "url": "https://Shop.example/consent"}, geo, client_ip="81.2.69.142")
    assert UUID.match(row["aid"])
    assert row["created_at"] == NOW
    assert row["vid"] == VID
    assert row["cflags"] == 5
    assert (row["oid"], row["uid"], row["url"]) == ("site-1", "u-7",
                                                    "https://Shop.example/consent")
    assert (row["country"], row["region"]) == ("GB", "ENG")
    assert row["lang"] == "de-CH"
    assert row["ip"] == "81.2.69.0"
    assert row["iphash"] == HASHER.hash("ip", "81.2.69.142")
    assert "params" not in row
    assert set(row) <= set(AGREEMENTS.column_names)


@pytest.mark.parametrize(("ip", "full", "stored"), [
    ("81.2.69.142", "81.2.69.142", "81.2.69.0"),
    ("2a02:cf40::1234:5678", "2a02:cf40::1234:5678", "2a02:cf40::"),
    ("::ffff:8.8.8.8", "8.8.8.8", "8.8.8.0"),
    ("10.9.8.7", "10.9.8.7", "10.9.8.0"),
    ("not-an-ip", "not-an-ip", None),
])
def test_never_a_raw_ip_when_anonymizing(geo, ip, full, stored) -> None:
    row = agree({"vid": VID, "cflags": 1}, geo, client_ip=ip)
    assert row.get("ip") == stored
    assert row["iphash"] == HASHER.hash_ip(ip)
    for value in row.values():
        assert ip not in str(value) and full not in str(value)


def test_raw_ip_kept_only_when_anonymizing_is_off() -> None:
    row = agree({"vid": VID, "cflags": 1}, anonymize=False, client_ip="81.2.69.142")
    assert row["ip"] == "81.2.69.142"


def test_ipv6_geo_and_anonymization(geo) -> None:
    row = agree({"vid": VID, "cflags": 15}, geo, client_ip="2a02:cf40::77")
    assert (row["country"], row["region"], row["ip"]) == ("DE", "BE", "2a02:cf40::")


def test_geoip_wins_over_declared_place_and_declared_fills_gaps(geo) -> None:
    row = agree({"vid": VID, "cflags": 4, "country": "FR", "region": "IDF"}, geo,
                client_ip="8.8.8.8")
    assert (row["country"], row["region"]) == ("US", "CA")
    unknown = agree({"vid": VID, "cflags": 4, "country": "FR", "region": "IDF"}, geo,
                    client_ip="1.1.1.1")
    assert (unknown["country"], unknown["region"]) == ("FR", "IDF")
    no_db = agree({"vid": VID, "cflags": 4, "country": "FR"}, None, client_ip="8.8.8.8")
    assert no_db["country"] == "FR" and "region" not in no_db


def test_vid_from_the_cookie_when_the_body_has_none() -> None:
    assert agree({"cflags": 4}, cookie_vid=VID)["vid"] == VID
    assert agree({"cflags": 4, "vid": ""}, cookie_vid=VID.upper())["vid"] == VID


@pytest.mark.parametrize(("body", "ctx", "message"), [
    ({"cflags": 4}, {}, "vid is required"),
    ({"cflags": 4}, {"cookie_vid": "nope"}, "vid is required"),
    ({"vid": "not-a-uuid", "cflags": 4}, {}, "vid must be a UUID"),
    ({"vid": 12, "cflags": 4}, {}, "vid must be a UUID"),
    ({"vid": VID}, {}, "cflags is required"),
    ({"vid": VID, "cflags": ""}, {}, "cflags is required"),
    ({"vid": VID, "cflags": -1}, {}, "cflags must be between 0"),
    ({"vid": VID, "cflags": "all"}, {}, "cflags must be an integer"),
    ({"vid": VID, "cflags": True}, {}, "cflags must be an integer"),
    ({"vid": VID, "cflags": 1.5}, {}, "cflags must be an integer"),
    ({"vid": VID, "cflags": 1, "uid": {"a": 1}}, {}, "uid must be a string"),
    ({"vid": VID, "cflags": 1, "params": [1]}, {}, "params must be a JSON object"),
    ({"vid": VID, "cflags": 1, "url": "x" * 9000}, {}, "url is longer than"),
    ({"vid": VID, "cflags": 1, "other": "x" * 9000}, {}, "other is longer than"),
    ({"vid": VID, "cflags": 1, "params": {"big": "x" * 8000, "more": "y" * 8000,
                                          "again": "z" * 1000}}, {}, "params is larger"),
])
def test_invalid_bodies(body, ctx, message) -> None:
    with pytest.raises(FieldError) as err:
        agree(body, **ctx)
    assert err.value.message.startswith(message)


def test_body_must_be_an_object() -> None:
    with pytest.raises(FieldError, match="JSON object"):
        agree([{"vid": VID, "cflags": 1}])


def test_cflags_from_text_and_large_site_bits() -> None:
    assert agree({"vid": VID, "cflags": "13"})["cflags"] == 13
    assert agree({"vid": VID, "cflags": 1 << 40})["cflags"] == 1 << 40


def test_client_aid_kept_when_valid_else_new() -> None:
    assert agree({"vid": VID, "cflags": 1, "aid": AID.upper()})["aid"] == AID
    row = agree({"vid": VID, "cflags": 1, "aid": "retry-1"})
    assert UUID.match(row["aid"]) and row["aid"] != AID


def test_unknown_fields_and_params() -> None:
    row = agree({"vid": VID, "cflags": 1, "banner": "v2", "choice": ["a"],
                 "params": {"banner": "v3", "src": "footer"}})
    assert row["params"] == {"banner": "v3", "src": "footer", "choice": ["a"]}


def test_the_callers_params_object_is_not_changed() -> None:
    given = {"email": "A@Example.com", "x": 1}
    agree({"vid": VID, "cflags": 1, "params": given})
    assert given == {"email": "A@Example.com", "x": 1}


def test_personal_data_only_as_keyed_hashes() -> None:
    row = agree({"vid": VID, "cflags": 1, "email": " A@Example.com ", "cell": "+41 79 1",
                 "params": {"uname": "alice"}})
    assert row["params"] == {
        "ehash": HASHER.hash("email", "a@example.com"),
        "chash": HASHER.hash("cell", "+41791"),
        "uhash": HASHER.hash("uname", "alice"),
    }
    text = orjson.dumps(row).decode()
    assert "Example.com" not in text and "alice" not in text and "+41 79 1" not in text


def test_server_owned_fields_are_ignored() -> None:
    row = agree({"vid": VID, "cflags": 1, "ip": "6.6.6.6", "iphash": "x", "created_at": 1},
                client_ip="81.2.69.142")
    assert row["ip"] == "81.2.69.0" and row["created_at"] == NOW
    assert row["iphash"] != "x" and "params" not in row


def test_lang_from_body_or_header() -> None:
    assert agree({"vid": VID, "cflags": 1, "lang": "fr"})["lang"] == "fr"
    assert "lang" not in agree({"vid": VID, "cflags": 1}, accept_language="*")
    assert "lang" not in agree({"vid": VID, "cflags": 1}, accept_language="")


def test_rows_fit_the_agreements_table(geo) -> None:
    row = agree({"vid": VID, "cflags": 9, "oid": "s", "k": 1}, geo, client_ip="8.8.8.8")
    kinds = {c.name: c for c in AGREEMENTS.columns}
    assert set(row) <= set(kinds)
    assert all(c.name in row for c in AGREEMENTS.columns if not c.nullable)
