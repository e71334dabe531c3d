"""Delivery guarantees through real processes: SIGKILL, SIGTERM, the WAL quota."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time

import pytest

from tests.integration.harness import TrackerProcess

pytestmark = pytest.mark.integration

CLIENTS = 8


class Client(threading.Thread):
    """Sends single events over keep-alive and records each acknowledged eid."""

    def __init__(self, port: int, index: int, stop: threading.Event, batch: int = 1):
        super().__init__(daemon=True)
        self.port, self.index, self.stop, self.batch = port, index, stop, batch
        self.acked: list[str] = []
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while not self.stop.is_set():
            n += 1
            events = [{"ename": "load", "uid": f"c{self.index}", "score": n + i / 1000}
                      for i in range(self.batch)]
            body = json.dumps({"batch": events} if self.batch > 1 else events[0])
            try:
                conn.request("POST", "/tr/v1/str/", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                time.sleep(0.01)
                continue
            if resp.status == 200:
                doc = json.loads(data)
                self.acked.extend(doc["eids"] if "eids" in doc else [doc["eid"]])


def _load(t: TrackerProcess, seconds: float, batch: int = 1
          ) -> tuple[list[Client], threading.Event]:
    stop = threading.Event()
    clients = [Client(t.port, i, stop, batch) for i in range(CLIENTS)]
    for c in clients:
        c.start()
    time.sleep(seconds)
    return clients, stop


def test_sigkill_under_load_loses_nothing_and_stores_nothing_twice(tracker_factory) -> None:
    t = tracker_factory(Workers=2, Fsync="interval").start()
    clients, stop = _load(t, 3.0, batch=5)
    # Kill every process of the server mid-load, clients still sending.
    os.killpg(t.proc.pid, signal.SIGKILL)
    stop.set()
    for c in clients:
        c.join(timeout=15)
    t.proc.wait()
    acked = [eid for c in clients for eid in c.acked]
    assert len(acked) > 1000, "the load did not get going"

    # Restart on the same data directory: the shipper resumes from its cursors.
    t.start()
    t.wait_delivered(0)
    assert t.stop() == 0
    stored = dict(t.query("SELECT eid::VARCHAR, count(*) FROM events GROUP BY eid"))
    missing = [e for e in acked if e not in stored]
    doubled = [e for e, n in stored.items() if n > 1]
    print(f"SIGKILL under load: {len(acked)} acknowledged by {CLIENTS} clients, "
          f"{len(stored)} stored, {len(missing)} lost, {len(doubled)} stored twice")
    assert missing == [], f"{len(missing)} acknowledged events lost"
    assert doubled == [], f"{len(doubled)} events stored twice"


def test_sigterm_delivers_everything_acknowledged(tracker_factory) -> None:
    t = tracker_factory(Workers=2).start()
    clients, stop = _load(t, 2.0)
    stop.set()
    for c in clients:
        c.join(timeout=15)
    acked = [eid for c in clients for eid in c.acked]
    assert len(acked) > 200
    assert t.stop(signal.SIGTERM) == 0
    stored = {r[0] for r in t.query("SELECT eid::VARCHAR FROM events")}
    assert set(acked) <= stored
    assert t.query("SELECT count(*) - count(DISTINCT eid) FROM events") == [(0,)]


def test_a_stop_right_after_the_start_still_delivers(tracker_factory) -> None:
    """Ctrl-C a moment after `make run`: the shipper may still be starting up; the
    acknowledged event must be in the store when tracker has exited all the same."""
    t = tracker_factory(Workers=2).start(first_answer=True)
    status, _, body = t.request("POST", "/tr/v1/str/", json.dumps({"ename": "early"}),
                                {"Content-Type": "application/json"})
    assert status == 200
    assert t.stop(signal.SIGTERM) == 0
    assert t.query("SELECT eid::VARCHAR FROM events WHERE ename = 'early'") == [
        (json.loads(body)["eid"],)]


def _shipper_pid(t: TrackerProcess) -> int:
    path = t.data_dir / "run" / "shipper.json"
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(json.loads(path.read_text())["pid"])


def test_wal_quota_answers_503_and_recovers(tracker_factory) -> None:
    t = tracker_factory(MaxDiskMB=2, WalSegmentMB=1).start()
    shipper = _shipper_pid(t)
    os.kill(shipper, signal.SIGSTOP)  # the store stops taking events: the log fills up
    try:
        event = json.dumps({"batch": [{"ename": "fill", "params": {"pad": "x" * 2000}}] * 50})
        statuses = []
        for _ in range(200):
            status, headers, body = t.request("POST", "/tr/v1/tr/", event,
                                              {"Content-Type": "application/json"})
            statuses.append(status)
            if status == 503:
                assert int(headers["retry-after"]) > 0
                assert "error" in json.loads(body)
                break
        assert statuses[-1] == 503, "the quota was never reached"
        accepted_before_full = statuses.count(200) * 50
        assert accepted_before_full > 0
        assert t.request("GET", "/ping")[0] == 200
    finally:
        os.kill(shipper, signal.SIGCONT)
    # The shipper catches up, retires segments, and ingestion resumes.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps({"ename": "after"}),
                                 {"Content-Type": "application/json"})
        if status == 204:
            break
        time.sleep(0.5)
    assert status == 204, "ingestion did not recover after the shipper caught up"
    assert t.stop() == 0
    assert t.query("SELECT count(*) FROM events WHERE ename = 'fill'") == [(accepted_before_full,)]
    assert t.query("SELECT count(*) FROM events WHERE ename = 'after'") == [(1,)]
