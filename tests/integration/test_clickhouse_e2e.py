"""ClickHouse end to end, through real `tracker run` processes and the shared test server.

Exactly once means: with FINAL, every acknowledged event (and every payment and
consent row put into the log) is there once, whatever was replayed.

Outages are made with a TCP proxy between tracker and the server (tcp_proxy.py)
rather than by stopping the server: the server is shared by every test and by
other test runs on the machine, and cutting the proxy looks the same to the
sink (connections reset mid-insert, then refused) without breaking them.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client

from tests.conformance.rows import row
from tests.integration.harness import TrackerProcess
from tests.integration.stores import clickhouse_entry, query
from tests.integration.tcp_proxy import TcpProxy
from tests.services import ClickHouseServer, require_clickhouse
from tracker.model.tables import AGREEMENTS, PAYMENTS
from tracker.shipper.cursor import cursor_path
from tracker.wal import WalWriter

pytestmark = pytest.mark.integration

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")
JSON = {"Content-Type": "application/json"}


# ---- fixtures and helpers ------------------------------------------------------------


@pytest.fixture
def server() -> ClickHouseServer:
    return require_clickhouse()


@pytest.fixture
def database(server: ClickHouseServer) -> Iterator[str]:
    """A database name unique to the test (the sink creates it), dropped afterwards."""
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    yield name
    server.query(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def proxies(server: ClickHouseServer) -> Iterator[tuple[TcpProxy, TcpProxy]]:
    """(native, http) forwarders to the server; cut them to take ClickHouse away."""
    native = TcpProxy((server.host, server.port)).restore()
    http = TcpProxy((server.host, server.http_port)).restore()
    yield native, http
    native.cut()
    http.cut()


def rows_by_name(server: ClickHouseServer, database: str, where: str) -> list[dict[str, Any]]:
    client = Client(server.host, port=server.port, database=database)
    try:
        rows, columns = client.execute(f"SELECT * FROM events FINAL WHERE {where}",
                                       with_column_types=True)
    finally:
        client.disconnect()
    names = [c[0] for c in columns]
    return [dict(zip(names, r, strict=True)) for r in rows]


def write_log(data_dir: Path, worker: int, table_id: int, rows: list[dict[str, Any]]) -> None:
    """Append rows to a log directory of a worker number no running worker uses."""
    writer = WalWriter(data_dir / "wal" / f"w{worker}", worker, "always")
    writer.open()
    try:
        writer.append(table_id, len(rows), orjson.dumps(rows))
    finally:
        writer.close()


def sink_state(t: TrackerProcess, name: str = "clickhouse") -> dict[str, Any]:
    return t.json("/health")["sinks"][name]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_settled(t: TrackerProcess, appended: int, timeout: float = 60.0) -> None:
    """Until the shipper has seen `appended` events in the log and delivered them all
    (TrackerProcess.wait_delivered may look at a state published before the appends)."""
    def settled() -> bool:
        totals = json.loads((t.data_dir / "run" / "shipper.json").read_text())["totals"]
        return totals["appended_events"] >= appended and totals["lag_events"] == 0
    wait_for(f"{appended} events appended and delivered", settled, timeout)


def delivered(t: TrackerProcess, table: str, sink: str = "clickhouse") -> int:
    state = json.loads((t.data_dir / "run" / "shipper.json").read_text())
    return int(state["sinks"][sink]["delivered"].get(table, 0))


# ---- (a) every route, payments and agreements, exactly once ---------------------------


def test_routes_payments_and_agreements_land_exactly_once(
    tracker_factory: Callable[..., TrackerProcess], server: ClickHouseServer, database: str,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    payments = [row(PAYMENTS, n) for n in range(1, 6)]
    agreements = [row(AGREEMENTS, n) for n in range(1, 4)]
    write_log(data_dir, 7, PAYMENTS.table_id, payments[:3])  # in the log before start
    write_log(data_dir, 7, AGREEMENTS.table_id, agreements)
    t = tracker_factory(data_dir, Notify=[clickhouse_entry(database, server.port,
                                                           server.http_port)]).start()

    status, _, _ = t.request(
        "GET", "/tr/v1/tr/ename/Page_View/url/https%3A%2F%2FShop.example%2FP%2F42"
        "/oid/Site-1?utm_source=News&utm_medium=Email&color=Blue", headers={"User-Agent": UA})
    assert status == 204
    status, _, _ = t.request("POST", "/tr/v1/tr/", json.dumps(
        {"ename": "signup", "email": "Ann@Example.com", "vp_w": 1280, "revenue": 9.5,
         "params": {"plan": "Pro", "n": [1, 2]}}), {**JSON, "User-Agent": UA})
    assert status == 204
    status, _, body = t.request("POST", "/tr/v1/tr/", gzip.compress(json.dumps(
        {"batch": [{"ename": "g1"}, {"ename": "g2"}, {"ename": "g3"}]}).encode()),
        {**JSON, "Content-Encoding": "gzip"})
    assert status == 200 and json.loads(body)["accepted"] == 3
    client_eid = str(uuid.uuid4())
    status, _, body = t.request("POST", "/tr/v1/str/", json.dumps(
        {"ename": "server_side", "eid": client_eid, "uid": "User-7"}), JSON)
    assert status == 200 and json.loads(body) == {"eid": client_eid}
    status, _, body = t.request("GET", "/tr/v1/str/ename/str_get")
    assert status == 200
    str_get_eid = json.loads(body)["eid"]
    status, _, body = t.request("POST", "/tr/v1/str/", json.dumps(
        {"batch": [{"ename": "s1"}, {"ename": "s2"}]}), JSON)
    assert status == 200 and len(json.loads(body)["eids"]) == 2
    # The same client eid again (a client retry): still one row.
    status, _, _ = t.request("POST", "/tr/v1/str/", json.dumps(
        {"ename": "server_side", "eid": client_eid, "uid": "User-7"}), JSON)
    assert status == 200

    # While running: the other payments, plus a replay of the first ones.
    write_log(data_dir, 8, PAYMENTS.table_id, payments[3:] + payments[:3])
    wait_settled(t, 6 + 5 + 10)

    names = sorted(r[0] for r in query(server, database, "SELECT ename FROM events FINAL"))
    assert names == sorted(["Page_View", "signup", "g1", "g2", "g3", "server_side", "str_get",
                            "s1", "s2"])
    (pv,) = rows_by_name(server, database, "ename = 'Page_View'")
    assert pv["url"] == "https://Shop.example/P/42" and pv["oid"] == "Site-1"
    assert (pv["source"], pv["medium"]) == ("News", "Email")
    assert pv["browser"] == "Chrome" and pv["bot"] == 0
    (signup,) = rows_by_name(server, database, "ename = 'signup'")
    assert signup["vp_w"] == 1280 and signup["revenue"] == 9.5
    assert json.loads(signup["params"]) == {"plan": "Pro", "n": [1, 2]}
    assert signup["ehash"] and "Ann" not in json.dumps(signup, default=str)
    (ss,) = rows_by_name(server, database, f"eid = toUUID('{client_eid}')")
    assert ss["uid"] == "User-7"
    assert rows_by_name(server, database, f"eid = toUUID('{str_get_eid}')")[0]["ename"] == \
        "str_get"

    pids = query(server, database, "SELECT toString(pid), count() FROM payments FINAL "
                                   "GROUP BY pid")
    assert sorted(pids) == sorted((p["pid"], 1) for p in payments)
    aids = query(server, database, "SELECT toString(aid) FROM agreements FINAL")
    assert sorted(a for (a,) in aids) == sorted(a["aid"] for a in agreements)
    ltv_before = sorted(query(server, database, "SELECT id_type, id, amt, currency FROM ltv"))
    assert ("uid", "User-1", Decimal("19.99"), "EUR") in ltv_before
    assert sum(amt for kind, _, amt, _ in ltv_before if kind == "orid") == \
        sum(Decimal(p["amt"]) for p in payments)
    assert t.stop() == 0

    # Replay the whole log: forget the sink's cursor and run again.
    before = delivered(t, "events")
    cursor_path(data_dir, "clickhouse").unlink()
    t.start()
    wait_for("the replay", lambda: delivered(t, "events") >= before)
    wait_settled(t, 6 + 5 + 10)
    assert t.stop() == 0
    assert query(server, database, "SELECT count() FROM events FINAL") == [(9,)]
    assert query(server, database, "SELECT count() FROM payments FINAL") == [(5,)]
    assert query(server, database, "SELECT count() FROM agreements FINAL") == [(3,)]
    assert sorted(query(server, database,
                        "SELECT id_type, id, amt, currency FROM ltv")) == ltv_before


# ---- (b) outage --------------------------------------------------------------------------


class Sender:
    """Sends small /str/ batches in a thread, keeping every eid the server acknowledged."""

    def __init__(self, t: TrackerProcess) -> None:
        self.t = t
        self.acked: list[str] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            batch = [{"ename": f"load-{n + i}", "params": {"i": n + i}} for i in range(10)]
            n += 10
            status, _, body = self.t.request("POST", "/tr/v1/str/",
                                             json.dumps({"batch": batch}), JSON)
            self.statuses.append(status)
            if status == 200:
                self.acked.extend(json.loads(body)["eids"])
            time.sleep(0.01)


def stored_eids(server: ClickHouseServer, database: str) -> list[str]:
    return [e for (e,) in query(server, database, "SELECT toString(eid) FROM events FINAL")]


def test_outage_keeps_accepting_and_delivers_everything_once(
    tracker_factory: Callable[..., TrackerProcess], server: ClickHouseServer, database: str,
    proxies: tuple[TcpProxy, TcpProxy],
) -> None:
    native, http = proxies
    t = tracker_factory(Notify=[clickhouse_entry(database, native.port, http.port)]).start()
    with Sender(t) as sender:
        wait_for("first deliveries", lambda: delivered(t, "events") >= 50)
        native.cut()
        http.cut()
        wait_for("the outage to show in /health",
                 lambda: (s := sink_state(t))["state"] != "ok" and s["lag_events"] > 0)
        acked_during = len(sender.acked)
        wait_for("events acknowledged during the outage",
                 lambda: len(sender.acked) >= acked_during + 100)
        state = sink_state(t)
        assert state["state"] != "ok" and state["lag_events"] > 0 and state["last_error"]
        native.restore()
        http.restore()
        acked_at_restore = len(sender.acked)
        wait_for("the backlog to be delivered while sending goes on",
                 lambda: delivered(t, "events") >= acked_at_restore)
    assert sender.statuses and set(sender.statuses) == {200}
    wait_for("the lag to reach 0", lambda: t.lag() == 0)
    assert sink_state(t)["state"] == "ok"
    assert t.stop() == 0
    stored = stored_eids(server, database)
    assert len(stored) == len(set(stored))
    assert set(stored) == set(sender.acked)


def test_clickhouse_down_does_not_hold_back_duckdb(
    tracker_factory: Callable[..., TrackerProcess], server: ClickHouseServer, database: str,
    proxies: tuple[TcpProxy, TcpProxy],
) -> None:
    native, http = proxies
    native.cut()  # down before tracker even starts
    http.cut()
    t = tracker_factory(Notify=[
        {"Type": "duckdb", "MaxBatchTime": "100ms"},
        clickhouse_entry(database, native.port, http.port),
    ]).start()
    eids = []
    for n in range(20):
        status, _, body = t.request("POST", "/tr/v1/str/", json.dumps({"ename": f"e{n}"}), JSON)
        assert status == 200
        eids.append(json.loads(body)["eid"])
    wait_for("DuckDB to have everything", lambda: delivered(t, "events", "duckdb") >= 20
             and sink_state(t, "duckdb")["lag_events"] == 0)
    state = sink_state(t)
    assert state["state"] != "ok" and state["lag_events"] == 20
    native.restore()
    http.restore()
    wait_for("ClickHouse to catch up", lambda: t.lag() == 0)
    assert t.stop() == 0
    assert sorted(stored_eids(server, database)) == sorted(eids)
    assert sorted(str(e) for (e,) in t.query("SELECT eid FROM events")) == sorted(eids)
