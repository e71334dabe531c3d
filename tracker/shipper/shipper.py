"""The delivery path: one SinkRunner per sink, plus housekeeping.

Housekeeping (one thread) counts what the workers appended, publishes
`DataDirectory/run/shipper.json` every `state_interval`, and retires segments
every sink has consumed every `retire_interval`. Retiring relies on the cursors
saved on disk, never on positions held only in memory: after a crash every
sink must still find its saved position in the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from tracker.atomicfile import write_atomic
from tracker.shipper.appended import AppendedCounter
from tracker.shipper.batching import BatchPolicy, default_policies
from tracker.shipper.breaker import Breaker
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.deadletter import DeadLetters, deadletter_path
from tracker.shipper.runner import SinkRunner
from tracker.sinks.base import Sink
from tracker.wal import list_worker_dirs, retire_segments
from tracker.wal.segments import expire_spares

log = logging.getLogger(__name__)


class Shipper:
    def __init__(
        self,
        data_dir: Path,
        sinks: list[tuple[Sink, dict[str, BatchPolicy]]],
        *,
        poll_interval: float = 0.02,
        state_interval: float = 0.5,
        retire_interval: float = 5.0,
        retry_base_s: float = 0.2,
        retry_max_s: float = 30.0,
        open_after: int = 5,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.wal_root = self.data_dir / "wal"
        self.state_path = self.data_dir / "run" / "shipper.json"
        self.state_interval = state_interval
        self.retire_interval = retire_interval
        self._appended = AppendedCounter(self.wal_root)
        names = [sink.name for sink, _ in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique: {names}")
        self._policies = [policies or default_policies() for _, policies in sinks]
        self.runners = [
            SinkRunner(
                sink,
                policies,
                wal_root=self.wal_root,
                cursors=CursorStore(cursor_path(self.data_dir, sink.name)),
                dead_letters=DeadLetters(deadletter_path(self.data_dir, sink.name), sink.name),
                appended=self._appended.current,
                poll_interval=poll_interval,
                breaker=Breaker(base_s=retry_base_s, max_s=retry_max_s, open_after=open_after),
            )
            for (sink, _), policies in zip(sinks, self._policies, strict=True)
        ]
        self._halt = threading.Event()
        self._housekeeper: threading.Thread | None = None
        self._rate_lock = threading.Lock()
        self._rate_mark: tuple[float, int] | None = None

    def start(self) -> None:
        for runner in self.runners:
            runner.start()
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="shipper-housekeeping", daemon=True
        )
        self._housekeeper.start()

    def stop(self, timeout: float = 10.0, *, drain: bool = True) -> bool:
        """Deliver what the log holds within `timeout` (unless not `drain`), save the
        cursors, close the sinks. True when every sink got everything; what did not
        get through stays in the log for the next start."""
        deadline = time.monotonic() + timeout
        for runner in self.runners:
            runner.request_stop(timeout, drain)
        complete = True
        for runner in self.runners:
            # +1 s: a write in progress at the deadline is allowed to finish.
            complete &= runner.join(max(0.0, deadline - time.monotonic()) + 1.0)
        self._halt.set()
        if self._housekeeper is not None:
            self._housekeeper.join(timeout=5.0)
        try:
            self.publish_state()
            self.retire()
        except OSError as exc:
            log.warning("shipper: final state/retire failed: %s", exc)
        return complete

    def _housekeep(self) -> None:
        next_retire = time.monotonic() + self.retire_interval
        while not self._halt.wait(self.state_interval):
            try:
                self.publish_state()
                if time.monotonic() >= next_retire:
                    self.retire()
                    next_retire = time.monotonic() + self.retire_interval
            except Exception:  # keep publishing; a full disk may clear
                log.exception("shipper: housekeeping failed")

    # -- log ---------------------------------------------------------------------

    def appended(self) -> dict[str, int]:
        """Events appended to each worker directory, scanned now."""
        return self._appended.refresh()

    def retire(self) -> int:
        """Retire segments before the oldest saved cursor of every sink (deleted, or
        kept a while for reuse: wal/segments.py); bytes taken out of the log."""
        saved = [runner.saved_positions() for runner in self.runners]
        freed = 0
        for directory in list_worker_dirs(self.wal_root):
            expire_spares(directory)
            positions = [s.get(directory.name) for s in saved]
            if not positions or any(p is None for p in positions):
                continue  # some sink has not consumed anything here yet
            freed += retire_segments(directory, min(p.segment for p in positions))
        return freed

    # -- state -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        appended = self._appended.refresh()
        sinks = {runner.name: runner.snapshot() for runner in self.runners}
        batching = self._batching(sinks)
        return {
            "pid": os.getpid(),
            "updated_at_ms": int(time.time() * 1000),
            "sinks": sinks,
            "totals": {
                "appended_events": sum(appended.values()),
                "delivered": sum(sum(s["delivered"].values()) for s in sinks.values()),
                "dead_letters": sum(s["dead_letters"] for s in sinks.values()),
                "lag_events": sum(s["lag_events"] for s in sinks.values()),
                "queued_rows": sum(s["queued_rows"] for s in sinks.values()),
            },
            "batching": batching,
        }

    def publish_state(self, path: Path | None = None) -> dict[str, Any]:
        """Write the state atomically to `path` (default run/shipper.json) and return it."""
        doc = self.state()
        write_atomic(path or self.state_path, orjson.dumps(doc))
        return doc

    def _batching(self, sinks: dict[str, dict[str, Any]]) -> dict[str, Any]:
        batches = sum(sum(s["batches"].values()) for s in sinks.values())
        items = sum(sum(s["delivered"].values()) for s in sinks.values())
        failed = sum(sum(s["failures"].values()) for s in sinks.values())
        flushes = sum(s["flush_latency_ms"]["count"] for s in sinks.values())
        latency_sum = sum(s["flush_latency_ms"]["sum"] for s in sinks.values())
        return {
            "enabled": any(
                p.strategy != "immediate" for policies in self._policies for p in policies.values()
            ),
            "total_batches": batches,
            "total_items": items,
            "failed_batches": failed,
            "avg_batch_size": round(items / batches, 2) if batches else 0.0,
            "avg_flush_latency_ms": round(latency_sum / flushes, 3) if flushes else 0.0,
            "queued_items": sum(s["queued_rows"] for s in sinks.values()),
            "memory_usage_mb": round(
                sum(s["queued_bytes"] for s in sinks.values()) / (1 << 20), 3
            ),
            "batch_success_rate": round(batches / (batches + failed), 4)
            if batches + failed
            else 1.0,
            "events_per_second": self._rate(items),
        }

    def _rate(self, items: int) -> float:
        """Rows delivered per second since the previous call."""
        now = time.monotonic()
        with self._rate_lock:
            mark, self._rate_mark = self._rate_mark, (now, items)
        if mark is None or now <= mark[0]:
            return 0.0
        return round(max(0, items - mark[1]) / (now - mark[0]), 1)
