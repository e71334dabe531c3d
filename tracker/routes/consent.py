"""/tr/v1/ppi/agree: POST appends a consent record; GET lists a visitor's, newest first.

Records go through the log like events; the history is read from the shipper
(tracker/runtime/readapi.py), which merges the store with the log's undelivered
tail, so a record is readable as soon as its POST was answered.
"""

from __future__ import annotations

import time
from typing import Any

from tracker._fast import decode_query, normalize_uuid
from tracker.consent import build_agreement
from tracker.events import FieldError, KeyedHasher
from tracker.geo import GeoIp
from tracker.http import Request, Response
from tracker.model.tables import AGREEMENTS
from tracker.routes.body import BodyError, parse_json_object
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor, after_durable, wal_full
from tracker.routes.tracking import TrackingRoutes
from tracker.runtime.readclient import ShipperReads, ShipperUnavailable
from tracker.wal import WalFullError

NO_STORE = ("Cache-Control", "no-store")


class ConsentRoutes:
    def __init__(self, tracking: TrackingRoutes, ingestor: Ingestor, reads: ShipperReads,
                 hasher: KeyedHasher, anonymize_ip: bool, geo: GeoIp | None, cors: CorsPolicy,
                 max_body_bytes: int):
        self._tracking = tracking
        self._ingest = ingestor
        self._reads = reads
        self._hasher = hasher
        self._anonymize_ip = anonymize_ip
        self._geo = geo
        self._cors = cors
        self._max_body = max_body_bytes

    def handle(self, request: Request) -> Any:
        if request.method == "POST":
            return self._agree(request)
        return self._history(request)

    def _agree(self, request: Request) -> Any:
        headers = [*self._cors.headers(request), NO_STORE]
        try:
            body = parse_json_object(request.body, request.headers.get("content-encoding"),
                                     self._max_body)
        except BodyError as e:
            return Response.error(e.status, e.message, headers)
        ctx = self._tracking.context(request)
        try:
            row = build_agreement(body, ctx, self._hasher, self._anonymize_ip, self._geo)
        except FieldError as e:
            return Response.error(400, str(e), headers)
        try:
            durable = self._ingest.append(AGREEMENTS, [row])
        except WalFullError:
            return wal_full(headers)
        response = Response.json(200, {"aid": row["aid"]}, headers)
        return response if durable is None else after_durable(durable, response)

    async def _history(self, request: Request) -> Response:
        headers = [*self._cors.headers(request), NO_STORE]
        try:
            vid = normalize_uuid(decode_query(request.query).get("vid", ""))
        except ValueError:
            vid = None
        if vid is None:
            return Response.error(400, "vid is required and must be a UUID", headers)
        try:
            rows = await self._reads.rows("agreements", "vid", vid)
        except ShipperUnavailable:
            return Response.error(503, "the consent history cannot be read now; retry",
                                  [*headers, ("Retry-After", "1")])
        for row in rows:
            row["created_at"] = _iso(row.get("created_at"))
        return Response.json(200, rows, headers)


def _iso(ms: Any) -> Any:
    if not isinstance(ms, int):
        return ms
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"

