"""/tr/v1/ppi/jds, /tr/v1/ppi/geoip and /tr/v1/rdr/ through `tracker run` with 2 workers.

The tests that store events run on each store; the others store nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.geoip_fixture import write_city_db
from tests.integration.stores import StoreUnderTest

pytestmark = pytest.mark.integration


def test_jurisdictions_are_served(tracker_factory) -> None:
    t = tracker_factory(Workers=2).start()
    for _ in range(4):  # both workers answer the same
        jds = t.json("/tr/v1/ppi/jds")
        regulations = {j["regulation"] for j in jds}
        assert {"GDPR", "UK_GDPR", "CCPA", "LGPD", "PIPEDA"} <= regulations
    gdpr = next(j for j in jds if j["regulation"] == "GDPR")
    assert "DE" in gdpr["countries"] and gdpr["requires_consent"] is True


def test_geoip_answers_from_the_configured_database(tracker_factory, tmp_path) -> None:
    mmdb = write_city_db(tmp_path / "city.mmdb")
    t = tracker_factory(Workers=2, GeoIPDatabase=str(mmdb)).start()
    known = _known_ip(mmdb)
    doc = t.json(f"/tr/v1/ppi/geoip?ip={known}")
    assert set(doc) == {"ip", "country", "region", "city", "lat", "lon", "tz"}
    assert doc["ip"] == known and len(doc["country"]) == 2
    status, _, body = t.request("GET", "/tr/v1/ppi/geoip?ip=192.0.2.1")
    assert status == 404 and json.loads(body)["error"]
    status, _, body = t.request("GET", "/tr/v1/ppi/geoip?ip=not-an-ip")
    assert status == 400 and json.loads(body)["error"]


def test_geoip_without_a_database_is_503(tracker_factory) -> None:
    t = tracker_factory(Workers=2).start()
    status, _, body = t.request("GET", "/tr/v1/ppi/geoip?ip=8.8.8.8")
    assert status == 503 and "GeoIP" in json.loads(body)["error"]


def test_redirect_only_to_domains_and_tracked(tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, Domains=["shop.example"], Notify=store.notify).start()
    status, headers, _ = t.request(
        "GET", "/tr/v1/rdr/?url=https%3A%2F%2Fshop.example%2Fsale&ename=promo_click&oid=Site-1")
    assert status == 302 and headers["location"] == "https://shop.example/sale"
    assert "vid=" in headers["set-cookie"]
    status, headers, _ = t.request("GET", "/tr/v1/rdr/?url=%2Fcheckout")
    assert status == 302 and headers["location"] == "/checkout"
    for foreign in ("https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example", "javascript%3Aalert(1)",
                    "https%3A%2F%2Fshop.example%40evil.example%2F"):
        status, headers, body = t.request("GET", f"/tr/v1/rdr/?url={foreign}")
        assert status == 400 and "location" not in headers and json.loads(body)["error"]
    assert t.stop() == 0
    # ename breaks a tie in the millisecond (the two were sent in this order)
    rows = store.rows(t, "SELECT ename, etyp, oid, params FROM {events} ORDER BY created_at, ename")
    assert [(r[0], r[1], r[2]) for r in rows] == [("promo_click", "redirect", "Site-1"),
                                                 ("rdr", "redirect", None)]
    assert json.loads(rows[0][3])["urlto"] == "https://shop.example/sale"


def _known_ip(mmdb) -> str:
    import maxminddb

    with maxminddb.open_database(str(mmdb)) as reader:
        for network, record in reader:
            if record and record.get("country"):
                return str(network.network_address + 1) if network.num_addresses > 1 \
                    else str(network.network_address)
    raise AssertionError("the test database has no located network")


def test_events_are_placed_by_geoip_and_gated_by_consent(
        tracker_factory, tmp_path, store: StoreUnderTest) -> None:
    mmdb = write_city_db(tmp_path / "city.mmdb")
    t = tracker_factory(Workers=2, GeoIPDatabase=str(mmdb), TrustedProxies=["127.0.0.0/8"],
                        Notify=store.notify).start()
    london, mountain_view = "81.2.69.7", "8.8.8.8"
    cases = [  # (client, consent cookie, event name)
        (london, None, "gb_no_consent"),     # UK GDPR, no analytics bit: cookieless
        (london, "5", "gb_analytics"),       # 1 + 4: analytics granted
        (mountain_view, None, "us_ca"),      # CCPA is opt-out: cookies allowed
    ]
    cookies_set = {}
    for ip, consent, name in cases:
        headers = {"X-Forwarded-For": ip, "User-Agent": "Mozilla/5.0 test"}
        if consent:
            headers["Cookie"] = f"CookieConsent={consent}"
        status, got, _ = t.request("GET", f"/tr/v1/tr/ename/{name}/country/FR", headers=headers)
        assert status == 204
        cookies_set[name] = got["set-cookie"]
    assert cookies_set["gb_no_consent"] == ""
    assert "vid=" in cookies_set["gb_analytics"] and "vid=" in cookies_set["us_ca"]
    assert t.stop() == 0
    rows = {r[0]: r[1:] for r in store.rows(
        t, "SELECT ename, country, region, city, cflags FROM {events}")}
    assert rows["gb_no_consent"][:3] == ("GB", "ENG", "London")  # GeoIP wins over "FR"
    assert rows["gb_analytics"][3] == 5
    assert rows["us_ca"][:2] == ("US", "CA")
