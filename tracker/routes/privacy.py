"""Privacy reference routes that need no store: /tr/v1/ppi/jds and /tr/v1/ppi/geoip."""

from __future__ import annotations

import ipaddress

from tracker._fast import decode_query
from tracker.consent import jurisdictions_json
from tracker.geo import GeoIp, to_json
from tracker.http import Request, Response
from tracker.routes.cors import CorsPolicy

# The jurisdictions are reference data that changes with a release, not per request.
JDS_CACHE = ("Cache-Control", "public, max-age=3600")


class PrivacyRoutes:
    def __init__(self, geo: GeoIp | None, cors: CorsPolicy):
        self._geo = geo
        self._cors = cors

    def jurisdictions(self, request: Request) -> Response:
        return Response.json(200, jurisdictions_json(), [*self._cors.headers(request), JDS_CACHE])

    def geoip(self, request: Request) -> Response:
        cors = list(self._cors.headers(request))
        try:
            ip = decode_query(request.query).get("ip", "").strip()
        except ValueError as e:
            return Response.error(400, f"bad query string: {e}", cors)
        if not ip:
            return Response.error(400, "ip is required, e.g. /tr/v1/ppi/geoip?ip=203.0.113.7", cors)
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return Response.error(400, "ip is not an IPv4 or IPv6 address", cors)
        if self._geo is None:
            return Response.error(503, "no GeoIP database is configured (GeoIPDatabase)", cors)
        result = self._geo.lookup(ip)
        if result is None:
            return Response.error(404, "no location is known for this address", cors)
        return Response.json(200, to_json(ip, result), cors)
