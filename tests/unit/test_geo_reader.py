"""GeoIp: lookups in .mmdb files built by the test (GeoLite2 and DB-IP Lite layouts)."""

import os
from pathlib import Path

import maxminddb
import pytest

from tests.geoip_fixture import (
    write_city_db,
    write_country_db,
    write_dbip_city_db,
    write_dbip_country_db,
)
from tracker.geo import GeoIp, GeoResult, to_json

LONDON = GeoResult("GB", "ENG", "London", 51.5142, -0.0931, "Europe/London")
MOUNTAIN_VIEW = GeoResult("US", "CA", "Mountain View", 37.386, -122.0838,
                          "America/Los_Angeles")
BERLIN = GeoResult("DE", "BE", "Berlin", 52.5244, 13.4105, "Europe/Berlin")
TOKYO = GeoResult("JP", "13", "Tokyo", 35.6895, 139.6917, "Asia/Tokyo")


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geoip")


@pytest.fixture(scope="module")
def city(db_dir: Path) -> GeoIp:
    with GeoIp(write_city_db(db_dir / "city.mmdb")) as geo:
        yield geo


@pytest.fixture(scope="module")
def country(db_dir: Path) -> GeoIp:
    with GeoIp(write_country_db(db_dir / "country.mmdb")) as geo:
        yield geo


@pytest.mark.parametrize(("ip", "expected"), [
    ("81.2.69.142", LONDON),
    ("8.8.8.8", MOUNTAIN_VIEW),
    ("::ffff:8.8.8.8", MOUNTAIN_VIEW),  # IPv4-mapped IPv6 is looked up as IPv4
    ("2a02:cf40::1", BERLIN),
    ("2A02:CF40:0:0::abcd", BERLIN),
    ("2001:218:1:2::3", TOKYO),
])
def test_city_layout(city: GeoIp, ip: str, expected: GeoResult) -> None:
    assert city.database_type == "GeoLite2-City"
    assert city.lookup(ip) == expected


@pytest.mark.parametrize("ip", [
    "1.1.1.1",  # public, not in the database
    "2001:4860::8888",
    "5.5.5.5",  # a record with neither country nor place
    "not an ip",
    "",
    "8.8.8.8:80",
    "10.1.2.3", "192.168.1.1", "127.0.0.1", "169.254.0.1", "100.64.0.1", "::1",
    "fe80::1", "fc00::1", "224.0.0.1", "0.0.0.0",
])
def test_unknown_private_and_invalid_addresses_give_none(city: GeoIp, ip: str) -> None:
    assert city.lookup(ip) is None


def test_private_ranges_are_never_answered_even_when_the_file_has_them(
        city: GeoIp) -> None:
    with maxminddb.open_database(str(city.path)) as raw:
        assert raw.get("10.1.2.3")["country"]["iso_code"] == "DE"
    assert city.lookup("10.1.2.3") is None


def test_country_layout_has_only_the_country(country: GeoIp) -> None:
    assert country.database_type == "GeoLite2-Country"
    assert country.lookup("81.2.69.1") == GeoResult(country="GB")
    assert country.lookup("2001:218::9") == GeoResult(country="JP")
    assert country.lookup("2a02:cf40::1") is None


def test_dbip_city_layout_maps_us_state_names_to_codes(db_dir: Path) -> None:
    with GeoIp(write_dbip_city_db(db_dir / "dbip-city.mmdb")) as geo:
        assert geo.lookup("8.8.8.8") == GeoResult("US", "CA", "Mountain View",
                                                  37.4056, -122.0775, None)
        # No code in the file and no table for the country: the English name.
        assert geo.lookup("81.2.69.9").region == "England"
        assert geo.lookup("2a02:cf40::1").city == "Berlin"


def test_ipv4_only_database_answers_none_for_ipv6(db_dir: Path) -> None:
    with GeoIp(write_dbip_country_db(db_dir / "dbip-country.mmdb")) as geo:
        assert geo.lookup("200.160.2.3") == GeoResult(country="BR")
        assert geo.lookup("2001:218::1") is None
        assert geo.lookup("::ffff:200.160.2.3") == GeoResult(country="BR")


def test_answers_are_cached_per_address(city: GeoIp) -> None:
    first = city.lookup("216.160.83.56")
    assert first is not None and first.city == "Milton"
    assert city.lookup("216.160.83.56") is first


def test_cache_is_bounded(db_dir: Path) -> None:
    with GeoIp(db_dir / "city.mmdb", cache_entries=2) as geo:
        answers = [geo.lookup(ip) for ip in ("81.2.69.1", "8.8.8.8", "2001:218::1",
                                             "81.2.69.1")]
        assert len(geo._cache) <= 2
        assert [a.country for a in answers] == ["GB", "US", "JP", "GB"]


def test_to_json_has_the_spec_shape(city: GeoIp) -> None:
    assert to_json("8.8.8.8", city.lookup("8.8.8.8")) == {
        "ip": "8.8.8.8", "country": "US", "region": "CA", "city": "Mountain View",
        "lat": 37.386, "lon": -122.0838, "tz": "America/Los_Angeles"}
    assert to_json("81.2.69.1", GeoResult(country="GB")) == {
        "ip": "81.2.69.1", "country": "GB", "region": None, "city": None,
        "lat": None, "lon": None, "tz": None}


def test_event_columns_leave_out_unknowns_and_tz() -> None:
    assert LONDON.columns() == {"country": "GB", "region": "ENG", "city": "London",
                                "lat": 51.5142, "lon": -0.0931}
    assert GeoResult(country="JP").columns() == {"country": "JP"}


def test_missing_or_broken_file_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        GeoIp(tmp_path / "absent.mmdb")
    (tmp_path / "bad.mmdb").write_bytes(b"not a database")
    with pytest.raises(maxminddb.InvalidDatabaseError):
        GeoIp(tmp_path / "bad.mmdb")


def _replace(path: Path, write) -> None:
    """Writes a new file beside `path` and renames it over, as an updater would."""
    tmp = write(path.with_name("incoming.mmdb"))
    os.replace(tmp, path)


def test_a_replaced_file_is_picked_up_at_the_next_check(tmp_path: Path) -> None:
    now = [1000.0]
    path = write_city_db(tmp_path / "geo.mmdb")
    with GeoIp(path, reload_interval=60, clock=lambda: now[0]) as geo:
        assert geo.lookup("8.8.8.8") == MOUNTAIN_VIEW
        _replace(path, write_country_db)
        now[0] += 59
        assert geo.lookup("8.8.8.8") == MOUNTAIN_VIEW  # not checked yet: cached answer
        now[0] += 1
        assert geo.lookup("8.8.8.8") == GeoResult(country="US")  # cache dropped too
        assert geo.database_type == "GeoLite2-Country"


def test_a_broken_replacement_keeps_the_open_database(tmp_path: Path) -> None:
    now = [0.0]
    path = write_city_db(tmp_path / "geo.mmdb")
    with GeoIp(path, reload_interval=60, clock=lambda: now[0]) as geo:
        broken = tmp_path / "broken.mmdb"
        broken.write_bytes(b"half a download")
        os.replace(broken, path)
        now[0] += 60
        assert geo.lookup("81.2.69.142") == LONDON
        # Once a good file arrives it is used at the next check.
        _replace(path, write_country_db)
        now[0] += 60
        assert geo.lookup("81.2.69.142") == GeoResult(country="GB")
