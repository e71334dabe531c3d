"""Reading GeoIP records of the supported layouts into GeoResult, without a database."""

import pytest

from tracker.geo import GeoResult, result_from_record
from tracker.geo.subdivisions import subdivision_code


def test_geolite2_city_record() -> None:
    record = {
        "city": {"geoname_id": 1, "names": {"en": "Zürich", "de": "Zürich"}},
        "country": {"iso_code": "CH", "names": {"en": "Switzerland"}},
        "location": {"latitude": 47.3667, "longitude": 8.55, "time_zone": "Europe/Zurich",
                     "accuracy_radius": 5},
        "subdivisions": [{"iso_code": "ZH", "names": {"en": "Zurich"}},
                         {"iso_code": "XX", "names": {"en": "second level"}}],
    }
    assert result_from_record(record) == GeoResult("CH", "ZH", "Zürich", 47.3667, 8.55,
                                                   "Europe/Zurich")


def test_integer_coordinates_become_floats() -> None:
    result = result_from_record({"country": {"iso_code": "DE"},
                                 "location": {"latitude": 51, "longitude": 9}})
    assert result.lat == 51.0 and type(result.lat) is float


def test_dbip_subdivision_names() -> None:
    us = {"country": {"iso_code": "US"}, "subdivisions": [{"names": {"en": "New York"}}]}
    assert result_from_record(us).region == "NY"
    fr = {"country": {"iso_code": "FR"}, "subdivisions": [{"names": {"en": "Brittany"}}]}
    assert result_from_record(fr).region == "Brittany"


def test_country_code_is_upper_case() -> None:
    assert result_from_record({"country": {"iso_code": "gb"}}) == GeoResult(country="GB")


@pytest.mark.parametrize("record", [
    None, "US", [], {}, {"continent": {"code": "EU"}},
    {"country": {"iso_code": ""}}, {"country": "US"},
    {"location": {"latitude": "51", "longitude": None}},
    {"subdivisions": "CA", "city": {"names": "x"}},
])
def test_records_that_tell_nothing_give_none(record) -> None:
    assert result_from_record(record) is None


def test_subdivision_code_lookup() -> None:
    assert subdivision_code("US", "California") == "CA"
    assert subdivision_code("us", "District of Columbia") == "DC"
    assert subdivision_code("US", "Atlantis") is None
    assert subdivision_code("CA", "Quebec") is None
    assert subdivision_code(None, "California") is None
