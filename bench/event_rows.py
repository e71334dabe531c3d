"""Realistic enriched events rows for the benchmarks of the column buffers and the encoder."""

from __future__ import annotations

BASE_MS = 1_700_000_000_000


def events_rows(count: int) -> list[dict]:
    """`count` events rows as the shipper buffers them, 28-29 populated columns each."""
    return [
        {
            "eid": f"0190a6f2-7c3b-7d4e-8f00-{n:012x}",
            "created_at": BASE_MS + n,
            "client_ts": BASE_MS + n - 120,
            "vid": f"0190a6f2-7c3b-7d4e-8f00-{n % 997:012x}",
            "sid": f"0190a6f2-7c3b-7d4e-9f00-{n % 113:012x}",
            "oid": "shop",
            "ename": "page_view" if n % 5 else "add_to_cart",
            "etyp": "view",
            "url": f"https://shop.example.com/products/item-{n % 500}?size=42",
            "host": "shop.example.com",
            "referrer": "https://www.google.com/",
            "source": "newsletter",
            "medium": "email",
            "campaign": "spring sale 2024",
            "tz": "Europe/Berlin",
            "lang": "de-DE",
            "device": "desktop",
            "os": "Windows",
            "browser": "Chrome",
            "vp_w": 1440,
            "vp_h": 900,
            "bot": False,
            "ip": "203.0.113.0",
            "country": "DE",
            "city": "Berlin",
            "lat": 52.52,
            "lon": 13.405,
            "cflags": 7,
            "params": {"plan": "pro", "items": n % 4} if n % 3 == 0 else None,
        }
        for n in range(count)
    ]
