"""The issue-4 routes with ClickHouse as the only store, 2 workers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.test_clickhouse_e2e import clickhouse_entry, query
from tests.integration.test_websocket_route import WsClient
from tests.services import ClickHouseServer, require_clickhouse
from tracker.ws.frames import OP_TEXT

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def server() -> ClickHouseServer:
    return require_clickhouse()


@pytest.fixture
def database(server: ClickHouseServer) -> Iterator[str]:
    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    yield name
    server.query(f"DROP DATABASE IF EXISTS {name}")


def test_routes_with_clickhouse_as_the_only_store(tracker_factory, server, database) -> None:
    t = tracker_factory(Workers=2, Domains=["shop.example"], RateLimitPerDay=1000, Notify=[
        clickhouse_entry(database, server.port, server.http_port)]).start()
    vid = str(uuid.uuid4())
    # Consent: written, then read back at once (from the log's tail), then from the store.
    aids = []
    for cflags in (1, 7):
        status, _, body = t.request("POST", "/tr/v1/ppi/agree",
                                    json.dumps({"vid": vid, "cflags": cflags}), JSON)
        assert status == 200
        aids.append(json.loads(body)["aid"])
        assert [h["aid"] for h in t.json(f"/tr/v1/ppi/agree?vid={vid}")] == aids[::-1]
    # Revenue, a redirect and a WebSocket message.
    status, _, _ = t.request("POST", "/tr/v1/ltv/", json.dumps(
        {"vid": vid, "orid": "O-1", "currency": "EUR",
         "payments": [{"amt": "10.5"}, {"amt": 2}]}), JSON)
    assert status == 200
    status = t.request("GET", "/tr/v1/rdr/?url=https%3A%2F%2Fshop.example%2F&ename=go")[0]
    assert status == 302
    ws = WsClient(t.port, "?ack=1")
    ws.send(OP_TEXT, b'{"ename":"ws_on_ch"}')
    assert json.loads(ws.receive().data) == {"accepted": 1}
    ws.close()
    t.wait_delivered(0)
    history = t.json(f"/tr/v1/ppi/agree?vid={vid}")  # now served by ClickHouse FINAL
    assert [h["aid"] for h in history] == aids[::-1] and history[0]["cflags"] == 7
    assert t.stop() == 0
    assert query(server, database, "SELECT count() FROM agreements FINAL") == [(2,)]
    assert query(server, database, "SELECT count() FROM payments FINAL") == [(2,)]
    (amt,) = query(server, database,
                   "SELECT amt FROM ltv WHERE id_type = 'orid' AND id = 'O-1'")[0]
    assert float(amt) == pytest.approx(12.5)
    names = {r[0] for r in query(server, database, "SELECT ename FROM events FINAL")}
    assert {"go", "ws_on_ch"} <= names
