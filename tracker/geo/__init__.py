"""GeoIP: the place (country, region, city, coordinates, time zone) of a client address."""

from tracker.geo.reader import GeoIp
from tracker.geo.result import GeoResult, result_from_record, to_json

__all__ = ["GeoIp", "GeoResult", "result_from_record", "to_json"]
