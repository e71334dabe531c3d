"""Every tracking route, through a real `tracker run`, lands in the DuckDB file intact."""

from __future__ import annotations

import gzip
import json
import time
import uuid

import pytest

from tests.integration.harness import TrackerProcess

pytestmark = pytest.mark.integration

UA_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/126.0.0.0 Safari/537.36")


def _rows(t: TrackerProcess, where: str, params: list | None = None) -> list[dict]:
    con_rows = t.query(f"SELECT * FROM events WHERE {where} ORDER BY created_at", params)
    names = [r[0] for r in t.query("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_name = 'events' ORDER BY ordinal_position")]
    return [dict(zip(names, r, strict=True)) for r in con_rows]


def test_every_route_lands_with_fields_intact(tracker: TrackerProcess) -> None:
    t = tracker
    # GET with path pairs and query, case preserved, utm mapped.
    status, headers, body = t.request(
        "GET", "/tr/v1/tr/ename/Page_View/url/https%3A%2F%2FShop.example%2FP%2F42%3Futm_term%3Dx"
        "/oid/Site-1?utm_source=News&utm_medium=Email&color=Blue",
        headers={"User-Agent": UA_CHROME, "Accept-Language": "fr-FR,fr;q=0.9"})
    assert status == 204 and body == b""
    assert "vid=" in headers["set-cookie"] and "sid=" in headers["set-cookie"]
    assert headers["access-control-allow-origin"] == "*"

    # POST one object, with personal data that must only be stored hashed.
    status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps(
        {"ename": "signup", "email": "Ann@Example.com", "cell": "+33 6 12 34 56 78",
         "uname": "ann", "vp_w": 1280, "revenue": 9.5, "params": {"plan": "Pro"}}),
        {"Content-Type": "application/json", "User-Agent": UA_CHROME,
         "X-Forwarded-For": "203.0.113.9"})
    assert status == 204

    # POST an array and a {"batch": ...} with text/plain (sendBeacon) and gzip.
    status, _, body = t.request("POST", "/tr/v1/tr/", json.dumps(
        [{"ename": "a1"}, {"ename": "a2"}]), {"Content-Type": "text/plain"})
    assert status == 200 and json.loads(body) == {"accepted": 2, "rejected": []}
    status, _, body = t.request("POST", "/tr/v1/tr/", gzip.compress(json.dumps(
        {"batch": [{"ename": "g1"}, {"ename": "g2"}, {"ename": "g3"}]}).encode()),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 200 and json.loads(body)["accepted"] == 3

    # Server-side tracking returns the eid; a client eid is kept.
    client_eid = str(uuid.uuid4())
    status, _, body = t.request("POST", "/tr/v1/str/", json.dumps(
        {"ename": "server_side", "eid": client_eid, "uid": "User-7"}),
        {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {"eid": client_eid}
    status, _, body = t.request("GET", "/tr/v1/str/ename/str_get")
    assert status == 200
    str_get_eid = json.loads(body)["eid"]
    uuid.UUID(str_get_eid)
    status, _, body = t.request("POST", "/tr/v1/str/", json.dumps(
        {"batch": [{"ename": "s1"}, {"ename": "s2"}]}), {"Content-Type": "application/json"})
    assert status == 200 and len(json.loads(body)["eids"]) == 2

    # The pixel.
    status, headers, body = t.request("GET", "/tr/v1/img/ename/pixel/etyp/impression")
    assert status == 200 and headers["content-type"] == "image/gif" and body[:6] == b"GIF89a"

    assert t.stop() == 0

    (pv,) = _rows(t, "ename = 'Page_View'")
    assert pv["url"] == "https://Shop.example/P/42?utm_term=x"
    assert pv["oid"] == "Site-1"
    assert (pv["source"], pv["medium"], pv["term"]) == ("News", "Email", "x")
    assert pv["browser"] == "Chrome" and pv["os"] == "Windows" and pv["bot"] is False
    assert pv["lang"].startswith("fr")
    assert pv["ip"] == "127.0.0.0"  # anonymized /24
    assert json.loads(pv["params"]) == {"color": "Blue"}
    assert pv["vid"] is not None and pv["sid"] is not None

    (su,) = _rows(t, "ename = 'signup'")
    assert su["ehash"] and su["chash"] and su["uhash"]
    assert su["vp_w"] == 1280 and su["revenue"] == 9.5
    assert json.loads(su["params"]) == {"plan": "Pro"}
    assert su["ip"] == "127.0.0.0", "X-Forwarded-For from an untrusted peer must be ignored"

    names = {r[0] for r in t.query("SELECT ename FROM events")}
    assert {"a1", "a2", "g1", "g2", "g3", "server_side", "str_get", "s1", "s2",
            "pixel"} <= names
    assert t.query("SELECT uid FROM events WHERE eid = ?", [client_eid]) == [("User-7",)]
    assert t.query("SELECT count(*) FROM events WHERE eid = ?", [str_get_eid]) == [(1,)]
    assert t.query("SELECT count(*), count(DISTINCT eid) FROM events") == [(12, 12)]


def test_personal_data_never_written_in_clear(tracker_factory) -> None:
    # The proxy is trusted so the forwarded address is believed, then anonymized.
    t = tracker_factory(TrustedProxies=["127.0.0.0/8"]).start()
    secret_bits = ["ann.secret@example.com", "+33612345678", "ann_the_user", "198.51.100.77"]
    status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps(
        {"ename": "pii", "email": secret_bits[0], "cell": secret_bits[1],
         "uname": secret_bits[2]}),
        {"Content-Type": "application/json", "X-Real-IP": secret_bits[3]})
    assert status == 204
    assert t.stop() == 0
    assert t.query("SELECT ip FROM events WHERE ename = 'pii'") == [("198.51.100.0",)]
    # Nothing anywhere under the data directory: WAL segments, DuckDB file, state.
    for path in t.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for bit in secret_bits:
                assert bit.encode() not in data, f"{bit} found in {path}"


def test_a_replayed_client_eid_is_stored_once(tracker: TrackerProcess) -> None:
    eid = str(uuid.uuid4())
    for _ in range(3):
        status, _, _ = tracker.request("POST", "/tr/v1/tr/", json.dumps(
            {"eid": eid, "ename": "retry"}), {"Content-Type": "application/json"})
        assert status == 204
    assert tracker.stop() == 0
    assert tracker.query("SELECT count(*) FROM events WHERE eid = ?", [eid]) == [(1,)]


def test_ops_routes_are_not_tracked(tracker: TrackerProcess) -> None:
    t = tracker
    assert t.request("GET", "/ping")[2] == b"pong"
    health = t.json("/health")
    assert health["status"] in ("ok", "degraded")
    assert set(health["wal"]) == {"bytes", "quota_bytes"}
    status = t.json("/status")
    assert status["workers"] == 1 and "version" in status and "uptime_seconds" in status
    code, headers, text = t.request("GET", "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    assert b"tracker_events_received_total 0" in text
    assert b"tracker_request_duration_seconds_bucket" in text
    batching = t.json("/metrics?format=json")["batching"]
    for key in ("enabled", "total_batches", "total_items", "failed_batches", "avg_batch_size",
                "avg_flush_latency_ms", "queued_items", "memory_usage_mb",
                "batch_success_rate", "events_per_second"):
        assert key in batching
    # A payment is delivered at once (immediate batching): its flush is timed per table.
    assert t.request("POST", "/tr/v1/ltv/", json.dumps({"amt": "1.5", "currency": "EUR"}),
                     {"Content-Type": "application/json"})[0] == 200
    deadline = time.monotonic() + 30  # the shipper publishes its state twice a second
    while 'tracker_batches_total{sink="duckdb",table="payments"} 1' not in (
            text := t.request("GET", "/metrics")[2].decode()):
        assert time.monotonic() < deadline, "the payment's batch was never counted"
        time.sleep(0.1)
    assert 'tracker_table_flush_latency_ms{sink="duckdb",table="payments",stat="max"}' in text
    assert 'tracker_flush_seconds_total{sink="duckdb",table="payments"}' in text
    assert t.stop() == 0
    assert t.query("SELECT count(*) FROM events") == [(0,)]


def test_cors_preflight_and_origin_list(tracker_factory) -> None:
    t = tracker_factory(AllowOrigin=["https://shop.example"]).start()
    status, headers, _ = t.request("OPTIONS", "/tr/v1/tr/", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://shop.example"
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    status, headers, _ = t.request("GET", "/tr/v1/tr/ename/x",
                                   headers={"Origin": "https://evil.example"})
    assert status == 204 and "access-control-allow-origin" not in headers


def test_the_events_of_one_request_share_its_visitor_and_session(tracker) -> None:
    t = tracker
    own = str(uuid.uuid4())
    status, headers, _ = t.request("POST", "/tr/v1/tr/", json.dumps({"batch": [
        {"ename": "b1"}, {"ename": "b2"}, {"ename": "b3", "vid": own}, {"ename": "b4"}]}),
        {"Content-Type": "application/json"})
    assert status == 200
    cookies = dict(line.split(";")[0].split("=", 1) for line in headers["set-cookie"].split("\n"))
    held = "01935c1e-0000-7000-8000-00000000abcd"  # a browser's vid cookie, no sid cookie
    status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps([{"ename": "c1"}, {"ename": "c2"}]),
                             {"Content-Type": "application/json", "Cookie": f"vid={held}"})
    assert status == 200
    assert t.stop() == 0
    rows = dict(t.query("SELECT ename, vid::VARCHAR || ' ' || sid::VARCHAR FROM events "
                        "WHERE ename IN ('b1', 'b2', 'b3', 'b4', 'c1', 'c2')"))
    pair = f"{cookies['vid']} {cookies['sid']}"
    assert rows["b1"] == rows["b2"] == rows["b4"] == pair
    assert rows["b3"] == f"{own} {cookies['sid']}"  # an id the event names stays its own
    assert rows["c1"].split()[0] == rows["c2"].split()[0] == held
    assert rows["c1"].split()[1] == rows["c2"].split()[1]  # one new session for both
