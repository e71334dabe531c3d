"""Short links through `tracker run` with 2 workers, on each store (SPEC 3.3)."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from typing import Any

import pytest

from tests.integration.harness import TrackerProcess

pytestmark = pytest.mark.integration

TOKEN = "s3cret-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
HOSTS = ["go.example", "links.example"]


def hit(t: TrackerProcess, host: str, path: str, method: str = "GET"
        ) -> tuple[int, dict[str, str]]:
    """One request on a fresh connection (so SO_REUSEPORT spreads them over workers)."""
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": f"{host}:{t.port}", "User-Agent": "test"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def admin_json(t: TrackerProcess, path: str) -> Any:
    status, _, body = t.request("GET", path, None, ADMIN)
    assert status == 200, (status, body)
    return json.loads(body)


def short_link_hits_by_worker(t: TrackerProcess, timeout: float = 10.0) -> list[int]:
    """Each worker's count of answered short-link hits so far, from the state files
    the workers publish every second or so (waits for a fresh one from each)."""
    since = time.time()
    deadline = time.monotonic() + timeout
    while True:
        states = [json.loads(p.read_text()) for p in (t.data_dir / "run").glob("worker-*.json")]
        if all(s["updated_at"] > since for s in states) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return [sum(r["count"] for r in s["routes"]["requests"]
                if r["route"] == "short_link" and r["status"] == 302) for s in states]


def wait_resolves(t: TrackerProcess, host: str, path: str, expect: int,
                  timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, _ = hit(t, host, path, "HEAD")
        if status == expect:
            return
        assert time.monotonic() < deadline, f"{host}{path} still answers {status}"
        time.sleep(0.05)


@pytest.fixture
def tracker(tracker_factory, store) -> TrackerProcess:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return tracker_factory(Workers=2, Domains=HOSTS, AdminTokens=[digest],
                           Notify=store.notify).start()


def test_wrong_or_missing_tokens_get_401(tracker) -> None:
    body = json.dumps({"urlfrom": "https://go.example/x", "urlto": "https://shop.example/"})
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": "Bearer"}, {"Authorization": TOKEN}):
        status, hdrs, answer = tracker.request("POST", "/tr/v1/rpi/redirect", body, headers)
        assert status == 401, headers
        assert hdrs["www-authenticate"].startswith("Bearer")
        assert "error" in json.loads(answer)
        assert tracker.request("GET", "/tr/v1/rpi/redirects/go.example", None, headers)[0] == 401
        assert tracker.request("DELETE", "/tr/v1/rpi/redirect?urlfrom=https://go.example/x",
                               None, headers)[0] == 401
    # The token in the URL is not a credential.
    assert tracker.request("GET", f"/tr/v1/rpi/redirects/go.example?token={TOKEN}")[0] == 401
    assert hit(tracker, "go.example", "/x")[0] == 404  # nothing was created


def test_bad_links_are_refused(tracker) -> None:
    for link, words in [
        ({"urlfrom": "https://elsewhere.example/x", "urlto": "https://a.example/"}, "Domains"),
        ({"urlfrom": "https://go.example/", "urlto": "https://a.example/"}, "path"),
        ({"urlfrom": "https://go.example/x?y=1", "urlto": "https://a.example/"}, "query"),
        ({"urlfrom": "https://go.example/x", "urlto": "javascript:alert(1)"}, "http"),
        ({"urlfrom": "https://go.example/x", "urlto": "/relative"}, "absolute"),
        ({"urlfrom": "https://go.example/x"}, "urlto is required"),
        ({"urlfrom": "https://go.example/x", "urlto": "https://a.example/", "oid": 5}, "oid"),
    ]:
        status, _, answer = tracker.request("POST", "/tr/v1/rpi/redirect", json.dumps(link),
                                            ADMIN)
        assert status == 400, link
        assert words in json.loads(answer)["error"], (link, answer)
    assert tracker.request("POST", "/tr/v1/rpi/redirect", b"not json", ADMIN)[0] == 400
    assert tracker.request("GET", "/tr/v1/rpi/redirects/other.example", None, ADMIN)[0] == 404
    assert tracker.request("DELETE", "/tr/v1/rpi/redirect?urlfrom=https://go.example/none",
                           None, ADMIN)[0] == 404


def test_create_resolve_everywhere_list_update_delete(tracker, store) -> None:
    t = tracker
    target = "https://shop.example/sale?utm_source=mail&utm_medium=email&utm_campaign=autumn"
    link = {"urlfrom": "https://go.example/autumn", "urlto": target, "oid": "acme"}
    status, _, answer = t.request("POST", "/tr/v1/rpi/redirect", json.dumps(link), ADMIN)
    assert status == 201, answer
    created = json.loads(answer)
    assert created["action"] == "create" and created["urlto"] == target
    # Listed at once (whichever worker answers), on its host only.
    listed = admin_json(t, "/tr/v1/rpi/redirects/go.example")
    assert [(x["urlfrom"], x["urlto"], x["oid"]) for x in listed] == [
        ("https://go.example/autumn", target, "acme")]
    assert admin_json(t, "/tr/v1/rpi/redirects/links.example") == []
    # Soon every worker resolves it: 40 answers in a row on fresh connections, which
    # SO_REUSEPORT spreads over both workers.
    in_a_row, deadline = 0, time.monotonic() + 10
    while in_a_row < 40:
        assert time.monotonic() < deadline, "the link did not reach every worker"
        status, hdrs = hit(t, "go.example", "/autumn")
        in_a_row = in_a_row + 1 if status == 302 else 0
        assert status in (302, 404) and hdrs.get("location", target) == target
    per_worker = short_link_hits_by_worker(t)
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker), per_worker
    # Unknown slug, other host, and a path that differs in case: 404.
    assert hit(t, "go.example", "/Autumn")[0] == 404
    assert hit(t, "links.example", "/autumn")[0] == 404
    assert hit(t, "go.example", "/nothing")[0] == 404
    # Replace the target, then delete.
    link["urlto"] = "https://shop.example/new"
    status, _, answer = t.request("POST", "/tr/v1/rpi/redirect", json.dumps(link), ADMIN)
    assert status == 201 and json.loads(answer)["action"] == "update"
    deadline = time.monotonic() + 5
    while hit(t, "go.example", "/autumn")[1].get("location") != "https://shop.example/new":
        assert time.monotonic() < deadline, "the new target did not reach every worker"
    status, _, _ = t.request("DELETE", "/tr/v1/rpi/redirect?urlfrom=https%3A%2F%2Fgo.example"
                             "%2Fautumn", None, ADMIN)
    assert status == 204
    assert admin_json(t, "/tr/v1/rpi/redirects/go.example") == []
    wait_resolves(t, "go.example", "/autumn", 404)
    assert t.stop() == 0
    # The tracked hits: 40 + those of the waits, each with the target's campaign.
    hits = store.rows(t, "SELECT etyp, ename, url, source, medium, campaign, oid, host"
                         " FROM {events} WHERE ename = 'short_rdr' AND params LIKE '%autumn%'")
    assert len(hits) >= 40
    assert set(hits) == {("redirect", "short_rdr", f"http://go.example:{t.port}/autumn",
                          "mail", "email", "autumn", "acme", "go.example")}
    history = store.rows(t, "SELECT action, urlto FROM {redirect_history} ORDER BY changed_at")
    assert history == [("create", target), ("update", "https://shop.example/new"),
                       ("delete", None)]
    assert store.rows(t, "SELECT count(*) FROM redirects") == [(0,)]


def test_links_survive_a_restart(tracker_factory, store) -> None:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    config = {"Workers": 2, "Domains": HOSTS, "AdminTokens": [digest], "Notify": store.notify}
    t = tracker_factory(**config).start()
    for slug in ("a", "b"):
        link = {"urlfrom": f"https://links.example/{slug}", "urlto": f"https://x.example/{slug}"}
        assert t.request("POST", "/tr/v1/rpi/redirect", json.dumps(link), ADMIN)[0] == 201
    assert t.stop() == 0
    again = tracker_factory(data_dir=t.data_dir, **config).start()
    status, hdrs = hit(again, "links.example", "/b")
    assert (status, hdrs["location"]) == (302, "https://x.example/b")
    listed = admin_json(again, "/tr/v1/rpi/redirects/links.example")
    assert [x["urlfrom"] for x in listed] == ["https://links.example/a", "https://links.example/b"]
    assert again.stop() == 0
    assert store.rows(again, "SELECT urlfrom, urlto FROM redirects ORDER BY urlfrom") == [
        ("https://links.example/a", "https://x.example/a"),
        ("https://links.example/b", "https://x.example/b")]
