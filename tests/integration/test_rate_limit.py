"""RateLimitPerDay through `tracker run` with 2 workers, on each store: exact across workers."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.stores import StoreUnderTest

pytestmark = pytest.mark.integration


def test_45_requests_with_a_limit_of_30_give_30_and_15_refusals(
        tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, RateLimitPerDay=30, Notify=store.notify).start()
    statuses = Counter()
    retry_after = set()
    for i in range(45):  # a new connection each time: both workers take some
        status, headers, body = t.request("GET", f"/tr/v1/tr/ename/hit/score/{i}")
        statuses[status] += 1
        if status == 429:
            assert json.loads(body)["error"]
            retry_after.add(int(headers["retry-after"]))
    assert statuses == {204: 30, 429: 15}
    assert all(0 < r <= 86400 for r in retry_after)
    # Operations routes are exempt.
    assert t.request("GET", "/ping")[0] == 200
    assert t.request("GET", "/health")[0] == 200
    assert t.request("GET", "/metrics")[0] == 200
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'hit'") == [(30,)]


def test_clients_behind_a_trusted_proxy_are_counted_apart(
        tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, RateLimitPerDay=2, TrustedProxies=["127.0.0.0/8"],
                        Notify=store.notify).start()
    for client in ("198.51.100.1", "198.51.100.2"):
        got = [t.request("GET", "/tr/v1/tr/ename/x", headers={"X-Forwarded-For": client})[0]
               for _ in range(3)]
        assert got == [204, 204, 429]
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'x'") == [(4,)]
