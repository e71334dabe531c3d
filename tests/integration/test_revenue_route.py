"""POST /tr/v1/ltv/ through `tracker run` with 2 workers into payments and ltv, on each store."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.stores import StoreUnderTest

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


def test_payments_and_lifetime_value(tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, Notify=store.notify).start()
    vid = str(uuid.uuid4())
    retried_pid = str(uuid.uuid4())
    status, _, body = t.request("POST", "/tr/v1/ltv/", json.dumps(
        {"vid": vid, "uid": "U-1", "orid": "O-1", "amt": "19.99", "currency": "eur"}), JSON)
    assert status == 200 and json.loads(body)["accepted"] == 1
    order = {"vid": vid, "uid": "U-1", "orid": "O-2", "currency": "EUR", "payments": [
        {"amt": 5, "sku": "A", "qty": 1}, {"amt": "2.50", "sku": "B", "pid": retried_pid}]}
    for _ in range(2):  # a client retry: the line with its own pid counts once
        status, _, body = t.request("POST", "/tr/v1/ltv/", json.dumps(order), JSON)
        assert status == 200 and json.loads(body)["accepted"] == 2
    status, _, body = t.request("POST", "/tr/v1/ltv/", json.dumps({"amt": "x"}), JSON)
    assert status == 400 and "amt" in json.loads(body)["error"]
    status, _, body = t.request("GET", "/tr/v1/ltv/")
    assert status == 405
    assert t.stop() == 0
    assert store.rows(t, f"SELECT count(*) FROM {{payments}} WHERE pid = '{retried_pid}'") == \
        [(1,)]
    assert store.rows(t, f"SELECT count(*) FROM {{payments}} WHERE vid = '{vid}'") == [(4,)]
    ltv = dict(((r[0], r[1]), float(r[2])) for r in store.rows(
        t, "SELECT id_type, id, amt FROM {ltv} WHERE currency = 'EUR'"))
    # 19.99 + (5 + 2.50) + 5 (the retried order's line without a pid is a new payment)
    assert ltv[("vid", vid)] == pytest.approx(32.49)
    assert ltv[("uid", "U-1")] == pytest.approx(32.49)
    assert ltv[("orid", "O-1")] == pytest.approx(19.99)
    assert ltv[("orid", "O-2")] == pytest.approx(12.5)
