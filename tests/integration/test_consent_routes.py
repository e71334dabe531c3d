"""Consent records through `tracker run` with 2 workers, on each store: written, then read
back at once."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.stores import StoreUnderTest

pytestmark = pytest.mark.integration
JSON = {"Content-Type": "application/json"}


def test_a_consent_record_is_readable_right_after_it_is_written(
        tracker_factory, store: StoreUnderTest) -> None:
    t = tracker_factory(Workers=2, Notify=store.notify).start()
    vid = str(uuid.uuid4())
    aids = []
    for cflags in (1, 5, 13):
        status, _, body = t.request("POST", "/tr/v1/ppi/agree", json.dumps(
            {"vid": vid, "cflags": cflags, "email": "a@b.example", "banner": "v2"}), JSON)
        assert status == 200
        aids.append(json.loads(body)["aid"])
        # Read at once, over a new connection (possibly the other worker).
        history = t.json(f"/tr/v1/ppi/agree?vid={vid}")
        assert [h["aid"] for h in history] == aids[::-1]  # newest first
    newest = history[0]
    assert newest["cflags"] == 13 and newest["vid"] == vid
    assert newest["params"]["banner"] == "v2" and "ehash" in newest["params"]
    assert "a@b.example" not in json.dumps(history)
    assert newest["created_at"].endswith("Z")
    assert t.json(f"/tr/v1/ppi/agree?vid={uuid.uuid4()}") == []
    status, _, body = t.request("GET", "/tr/v1/ppi/agree?vid=nope")
    assert status == 400 and json.loads(body)["error"]
    status, _, body = t.request("POST", "/tr/v1/ppi/agree", json.dumps({"vid": vid}), JSON)
    assert status == 400 and "cflags" in json.loads(body)["error"]
    # After delivery the history comes from the store, still once each, and reads the same
    # as it did from the log.
    t.wait_delivered(0)
    stored = t.json(f"/tr/v1/ppi/agree?vid={vid}")
    assert [h["aid"] for h in stored] == aids[::-1] and stored[0]["cflags"] == 13
    assert stored == history
    assert t.stop() == 0
    assert store.rows(t, f"SELECT count(*) FROM {{agreements}} WHERE vid = '{vid}'") == [(3,)]
