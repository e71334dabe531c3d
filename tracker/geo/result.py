"""One GeoIP answer and how it is read from the records of the supported database layouts.

Layouts: MaxMind GeoLite2/GeoIP2 City and Country, DB-IP Lite City and Country
(DB-IP writes the same map shape; its subdivisions carry names but no codes).

Field choices:
- `country`: ISO 3166-1 alpha-2 (`country.iso_code`), e.g. "US".
- `region`: the first-level subdivision code *without* the country prefix, as
  GeoLite2 stores it ("CA" for California, "ENG" for England); join it with the
  country for the full ISO 3166-2 code ("US-CA"), as the jurisdictions do. DB-IP
  Lite has no subdivision codes: US state names are mapped to their codes, any
  other subdivision keeps its English name.
- `city`: the English name. `lat`, `lon`, `tz` (IANA zone) from `location`.
Country databases give only `country`; the other fields are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.geo.subdivisions import subdivision_code


@dataclass(frozen=True, slots=True)
class GeoResult:
    country: str | None = None
    region: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    tz: str | None = None

    def columns(self) -> dict[str, Any]:
        """The non-null place columns of an `events` row (SPEC 4: country..lon)."""
        pairs = (("country", self.country), ("region", self.region), ("city", self.city),
                 ("lat", self.lat), ("lon", self.lon))
        return {name: value for name, value in pairs if value is not None}


def to_json(ip: str, result: GeoResult) -> dict[str, Any]:
    """The `GET /tr/v1/ppi/geoip` body: every key present, unknown values null."""
    return {"ip": ip, "country": result.country, "region": result.region,
            "city": result.city, "lat": result.lat, "lon": result.lon, "tz": result.tz}


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _english_name(entry: Any) -> str | None:
    names = entry.get("names") if isinstance(entry, dict) else None
    return _text(names.get("en")) if isinstance(names, dict) else None


def _region(country: str | None, subdivisions: Any) -> str | None:
    if not isinstance(subdivisions, list) or not subdivisions:
        return None
    first = subdivisions[0]  # the largest subdivision comes first
    if not isinstance(first, dict):
        return None
    code = _text(first.get("iso_code"))
    if code is not None:
        return code
    name = _english_name(first)
    if name is None:
        return None
    return subdivision_code(country, name) or name


def result_from_record(record: Any) -> GeoResult | None:
    """The answer a database record gives, or None when it tells nothing we use."""
    if not isinstance(record, dict):
        return None
    country_entry = record.get("country")
    country = _text(country_entry.get("iso_code")) if isinstance(country_entry, dict) else None
    location = record.get("location")
    if not isinstance(location, dict):
        location = {}
    result = GeoResult(
        country=country.upper() if country else None,
        region=_region(country, record.get("subdivisions")),
        city=_english_name(record.get("city")),
        lat=_number(location.get("latitude")),
        lon=_number(location.get("longitude")),
        tz=_text(location.get("time_zone")),
    )
    return None if result == _EMPTY else result


_EMPTY = GeoResult()
