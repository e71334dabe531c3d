"""POST /tr/v1/ltv/: payments, one `payments` row per line item, appended to the log."""

from __future__ import annotations

import time
from typing import Any

from tracker.events import FieldError
from tracker.http import Request, Response
from tracker.model.tables import PAYMENTS
from tracker.revenue import build_payment_rows
from tracker.routes.body import BodyError, parse_json_object
from tracker.routes.cors import CorsPolicy
from tracker.routes.ingest import Ingestor, after_durable, wal_full
from tracker.wal import WalFullError

NO_STORE = ("Cache-Control", "no-store")


class RevenueRoute:
    def __init__(self, ingestor: Ingestor, cors: CorsPolicy, max_body_bytes: int):
        self._ingest = ingestor
        self._cors = cors
        self._max_body = max_body_bytes

    def handle(self, request: Request) -> Any:
        headers = [*self._cors.headers(request), NO_STORE]
        try:
            doc = parse_json_object(request.body, request.headers.get("content-encoding"),
                                    self._max_body)
        except BodyError as e:
            return Response.error(e.status, e.message, headers)
        cookie_vid = request.cookie("vid") if "cookie" in request.headers else None
        try:
            rows = build_payment_rows(doc, cookie_vid, int(time.time() * 1000))
        except FieldError as e:
            return Response.error(400, str(e), headers)
        try:
            durable = self._ingest.append(PAYMENTS, rows)
        except WalFullError:
            return wal_full(headers)
        response = Response.json(200, {"accepted": len(rows),
                                       "pids": [r["pid"] for r in rows]}, headers)
        return response if durable is None else after_durable(durable, response)

