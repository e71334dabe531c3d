"""Operations routes: /ping, /health, /status, /metrics. Never recorded as events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tracker import __version__
from tracker.http import Request, Response
from tracker.metrics.exposition import metrics_json, prometheus_text
from tracker.runtime.statefile import read_state, read_worker_states, shipper_state_path

# Published state is rewritten every half second; re-reading it more often buys nothing.
STATE_CACHE_SECONDS = 0.25
PONG = Response.raw(200, "text/plain; charset=utf-8", b"pong", [("Cache-Control", "no-store")])


class OpsRoutes:
    def __init__(self, run_dir: Path, quota_bytes: int, workers: int,
                 local_state: Any):
        self._run_dir = run_dir
        self._quota = quota_bytes
        self._workers = workers
        self._local = local_state  # callable returning this worker's live state dict
        self._started = time.time()
        self._cache_at = 0.0
        self._cache: tuple[list[dict[str, Any]], dict[str, Any] | None] = ([], None)

    def _states(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        now = time.monotonic()
        if now - self._cache_at > STATE_CACHE_SECONDS:
            self._cache = (read_worker_states(self._run_dir),
                           read_state(shipper_state_path(self._run_dir)))
            self._cache_at = now
        workers, shipper = self._cache
        # This worker's own numbers are live; the others' come from their files.
        local = self._local()
        workers = [w for w in workers if w.get("worker") != local["worker"]] + [local]
        return workers, shipper

    def ping(self, request: Request) -> Response:
        return PONG

    def health(self, request: Request) -> Response:
        workers, shipper = self._states()
        sinks = {}
        degraded = shipper is None
        for name, s in ((shipper or {}).get("sinks") or {}).items():
            sinks[name] = {"state": s.get("state", "unknown"),
                           "lag_events": s.get("lag_events", 0),
                           "last_error": s.get("last_error")}
            degraded = degraded or s.get("state") != "ok"
        wal_bytes = sum(int(w.get("wal_bytes", 0)) for w in workers)
        body = {"status": "degraded" if degraded else "ok", "sinks": sinks,
                "wal": {"bytes": wal_bytes, "quota_bytes": self._quota}}
        return Response.json(200, body, [("Cache-Control", "no-store")])

    def status(self, request: Request) -> Response:
        workers, _ = self._states()
        body = {"version": __version__, "uptime_seconds": round(time.time() - self._started, 3),
                "workers": self._workers, "workers_reporting": len(workers),
                "connections": sum(int(w.get("connections", 0)) for w in workers)}
        return Response.json(200, body, [("Cache-Control", "no-store")])

    def metrics(self, request: Request) -> Response:
        workers, shipper = self._states()
        if "format=json" in request.query:
            return Response.json(200, metrics_json(workers, shipper),
                                 [("Cache-Control", "no-store")])
        text = prometheus_text(workers, shipper).encode()
        return Response.raw(200, "text/plain; version=0.0.4; charset=utf-8", text,
                            [("Cache-Control", "no-store")])
