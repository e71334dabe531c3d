"""Locust scenario: a realistic mix of browser and server-side tracking traffic.

    .venv/bin/pip install -e ".[load]"
    .venv/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 \
        --headless -u 50 -r 10 -t 60s

wrk (make loadtest) measures the ceiling; locust shows behaviour under a
mix of routes with per-route latency percentiles.
"""

from __future__ import annotations

import json
import random

from locust import FastHttpUser, between, task

PAGES = [f"https://shop.example/p/{i}" for i in range(200)]
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0 Safari/537.36")


class Visitor(FastHttpUser):
    """A browser: page views by GET path pairs, clicks by POST, a pixel now and then."""

    wait_time = between(0.0, 0.05)

    @task(6)
    def page_view(self) -> None:
        page = random.choice(PAGES).replace(":", "%3A").replace("/", "%2F")
        self.client.get(f"/tr/v1/tr/ename/page_view/etyp/view/url/{page}?utm_source=news",
                        headers={"User-Agent": UA}, name="/tr/v1/tr/ [GET]")

    @task(3)
    def click(self) -> None:
        body = {"ename": "click", "etyp": "click", "url": random.choice(PAGES),
                "params": {"button": random.choice(["buy", "share", "like"])}}
        self.client.post("/tr/v1/tr/", data=json.dumps(body), name="/tr/v1/tr/ [POST]",
                         headers={"Content-Type": "application/json", "User-Agent": UA})

    @task(1)
    def pixel(self) -> None:
        self.client.get("/tr/v1/img/ename/email_open/tid/newsletter-7", name="/tr/v1/img/")


class Backend(FastHttpUser):
    """A back end sending batches of server-side events."""

    wait_time = between(0.05, 0.2)
    weight = 1

    @task
    def batch(self) -> None:
        events = [{"ename": "invoice_line", "uid": f"u{random.randrange(10000)}",
                   "revenue": round(random.uniform(1, 100), 2), "currency": "EUR"}
                  for _ in range(100)]
        self.client.post("/tr/v1/str/", data=json.dumps({"batch": events}),
                         headers={"Content-Type": "application/json"}, name="/tr/v1/str/ [batch]")
