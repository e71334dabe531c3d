"""Small `.mmdb` files built in the tests with mmdb-writer, in the real layouts.

No GeoIP database can be downloaded here, so the tests write their own with a
few networks in the record shapes of GeoLite2-City, GeoLite2-Country and DB-IP
Lite City/Country. The places are made up for the tests; only the shapes are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def _names(en: str) -> dict[str, str]:
    return {"en": en, "de": f"{en} (de)"}


def _country(iso: str, name: str, geoname_id: int, eu: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"geoname_id": geoname_id, "iso_code": iso, "names": _names(name)}
    if eu:
        entry["is_in_european_union"] = True
    return entry


def _continent(code: str, name: str) -> dict[str, Any]:
    return {"code": code, "geoname_id": 6255148, "names": _names(name)}


def _city_record(country: dict[str, Any], continent: dict[str, Any], region: tuple[str, str],
                 city: str, lat: float, lon: float, tz: str) -> dict[str, Any]:
    """The GeoLite2-City shape (subdivisions carry ISO codes without the country)."""
    return {
        "city": {"geoname_id": 1000, "names": _names(city)},
        "continent": continent,
        "country": country,
        "registered_country": country,
        "location": {"accuracy_radius": 20, "latitude": lat, "longitude": lon,
                     "time_zone": tz},
        "postal": {"code": "12345"},
        "subdivisions": [{"geoname_id": 2000, "iso_code": region[0],
                          "names": _names(region[1])}],
    }


EUROPE = _continent("EU", "Europe")
NORTH_AMERICA = _continent("NA", "North America")
SOUTH_AMERICA = _continent("SA", "South America")
ASIA = _continent("AS", "Asia")

GB = _country("GB", "United Kingdom", 2635167)
DE = _country("DE", "Germany", 2921044, eu=True)
US = _country("US", "United States", 6252001)
BR = _country("BR", "Brazil", 3469034)
JP = _country("JP", "Japan", 1861060)
CA = _country("CA", "Canada", 6251999)

# network -> GeoLite2-City record. IPv4 and IPv6 networks in one IPv6 tree.
CITY_NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": _city_record(GB, EUROPE, ("ENG", "England"), "London",
                                 51.5142, -0.0931, "Europe/London"),
    "8.8.8.0/24": _city_record(US, NORTH_AMERICA, ("CA", "California"), "Mountain View",
                               37.386, -122.0838, "America/Los_Angeles"),
    "216.160.83.0/24": _city_record(US, NORTH_AMERICA, ("WA", "Washington"), "Milton",
                                    47.2513, -122.3149, "America/Los_Angeles"),
    "200.160.0.0/20": _city_record(BR, SOUTH_AMERICA, ("SP", "Sao Paulo"), "Sao Paulo",
                                   -23.5475, -46.6361, "America/Sao_Paulo"),
    "24.48.0.0/16": _city_record(CA, NORTH_AMERICA, ("QC", "Quebec"), "Montreal",
                                 45.5088, -73.5878, "America/Toronto"),
    "2a02:cf40::/29": _city_record(DE, EUROPE, ("BE", "Land Berlin"), "Berlin",
                                   52.5244, 13.4105, "Europe/Berlin"),
    "2001:218::/32": _city_record(JP, ASIA, ("13", "Tokyo"), "Tokyo",
                                  35.6895, 139.6917, "Asia/Tokyo"),
    # A record without a country or place (real databases hold some): no answer.
    "5.5.5.0/24": {"continent": EUROPE},
    # A private range with data: the reader must still never answer for it.
    "10.0.0.0/8": _city_record(DE, EUROPE, ("BE", "Land Berlin"), "Berlin",
                               52.5244, 13.4105, "Europe/Berlin"),
}

# network -> GeoLite2-Country record (no city, subdivisions or location).
COUNTRY_NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": {"continent": EUROPE, "country": GB, "registered_country": GB},
    "8.8.8.0/24": {"continent": NORTH_AMERICA, "country": US, "registered_country": US},
    "2001:218::/32": {"continent": ASIA, "country": JP, "registered_country": JP},
}


def _dbip_city(country: dict[str, Any], continent: dict[str, Any], region: str, city: str,
               lat: float, lon: float) -> dict[str, Any]:
    """The DB-IP Lite City shape: subdivisions and cities by name only, no time zone."""
    return {
        "city": {"names": {"en": city}},
        "continent": continent,
        "country": country,
        "location": {"latitude": lat, "longitude": lon},
        "subdivisions": [{"names": {"en": region}}],
    }


DBIP_CITY_NETWORKS: dict[str, dict[str, Any]] = {
    "8.8.8.0/24": _dbip_city(US, NORTH_AMERICA, "California", "Mountain View",
                             37.4056, -122.0775),
    "81.2.69.0/24": _dbip_city(GB, EUROPE, "England", "London", 51.5085, -0.12574),
    "2a02:cf40::/29": _dbip_city(DE, EUROPE, "Berlin", "Berlin", 52.5244, 13.4105),
}

DBIP_COUNTRY_NETWORKS: dict[str, dict[str, Any]] = {
    "8.8.8.0/24": {"continent": NORTH_AMERICA, "country": US},
    "200.160.0.0/20": {"continent": SOUTH_AMERICA, "country": BR},
}


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]], database_type: str,
               ip_version: int = 6) -> Path:
    """Writes `networks` (CIDR -> record) to `path`; IPv4 networks go under ::/96 in IPv6."""
    writer = MMDBWriter(ip_version=ip_version, database_type=database_type,
                        languages=["en", "de"], description="tracker test data",
                        ipv4_compatible=ip_version == 6)
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def write_city_db(path: Path) -> Path:
    return write_mmdb(path, CITY_NETWORKS, "GeoLite2-City")


def write_country_db(path: Path) -> Path:
    return write_mmdb(path, COUNTRY_NETWORKS, "GeoLite2-Country")


def write_dbip_city_db(path: Path) -> Path:
    return write_mmdb(path, DBIP_CITY_NETWORKS, "DBIP-City-Lite")


def write_dbip_country_db(path: Path) -> Path:
    """An IPv4-only database, as some builds are: IPv6 lookups find nothing."""
    return write_mmdb(path, DBIP_COUNTRY_NETWORKS, "DBIP-Country-Lite", ip_version=4)
