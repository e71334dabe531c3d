"""Fully populated, deterministic rows for each table (every column set)."""

from __future__ import annotations

from typing import Any

from tracker.model.tables import AGREEMENTS, EVENTS, PAYMENTS, REDIRECT_HISTORY, Table

BASE_MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z: keeps the milliseconds honest


def uid(n: int, family: int = 0) -> str:
    """A canonical lowercase UUIDv7-shaped id; `family` keeps kinds of ids apart."""
    return f"0190c2a4-7c3f-7b1e-8f{family:02x}-{n:012x}"


def event(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "eid": uid(n, 1),
        "created_at": BASE_MS + n * 1000,
        "client_ts": BASE_MS + n * 1000 - 250,
        "vid": uid(n % 3, 2),
        "sid": uid(n % 5, 3),
        "uid": f"User-{n}",
        "oid": "Org-1",
        "tid": "Thread-9",
        "ename": "SignUp",
        "etyp": "track",
        "url": f"https://Example.com/Path/{n}?Q=A",
        "host": "Example.com",
        "referrer": "https://www.Google.com/search?q=X",
        "xid": "exp-1",
        "split": "B",
        "outcome": "converted",
        "score": 0.1 + n,
        "revenue": 12.5,
        "currency": "EUR",
        "source": "Newsletter",
        "medium": "email",
        "campaign": "Spring",
        "content": "hero",
        "term": "shoes",
        "tz": "Europe/Berlin",
        "lang": "de-DE",
        "device": "desktop",
        "os": "Linux",
        "browser": "Firefox",
        "vp_w": 1920,
        "vp_h": 1080,
        "bot": False,
        "ip": "203.0.113.0",
        "iphash": "a1b2c3d4e5f60718",
        "country": "DE",
        "region": "DE-BE",
        "city": "Berlin",
        "lat": 52.52,
        "lon": 13.405,
        "ehash": "e" * 16,
        "chash": "c" * 16,
        "uhash": "u" * 16,
        "cflags": 7,
        "params": {"plan": "Pro", "items": [1, 2.5, None, True], "nested": {"k": "V"}},
    }
    row.update(over)
    return row


def payment(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "pid": uid(n, 4),
        "created_at": BASE_MS + n * 1000,
        "eid": uid(n, 1),
        "vid": uid(n % 3, 2),
        "sid": uid(n % 5, 3),
        "uid": f"User-{n}",
        "oid": "Org-1",
        "orid": f"Order-{n}",
        "amt": "19.9900",
        "currency": "EUR",
        "product": "T-Shirt",
        "sku": "TS-M-Blue",
        "category": "Apparel",
        "qty": 2,
        "price": "9.9950",
        "params": {"coupon": "SPRING10"},
    }
    row.update(over)
    return row


def agreement(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "aid": uid(n, 5),
        "created_at": BASE_MS + n * 1000,
        "vid": uid(n % 3, 2),
        "uid": f"User-{n}",
        "oid": "Org-1",
        "cflags": 15,
        "ip": "203.0.113.0",
        "iphash": "a1b2c3d4e5f60718",
        "country": "FR",
        "region": "FR-IDF",
        "lang": "fr-FR",
        "url": "https://Example.com/Consent",
        "params": {"banner": "v2"},
    }
    row.update(over)
    return row


def redirect_change(n: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "hid": uid(n, 7),
        "changed_at": BASE_MS + n * 1000,
        "urlfrom": f"https://Go.example/Slug-{n % 4}",
        "host": "go.example",
        "urlto": f"https://Shop.example/Sale?utm_campaign=C{n}",
        "oid": "Org-1",
        "action": ("create", "update", "delete")[n % 3],
    }
    row.update(over)
    return row


MAKERS = {EVENTS.name: event, PAYMENTS.name: payment, AGREEMENTS.name: agreement,
          REDIRECT_HISTORY.name: redirect_change}


def row(table: Table, n: int, **over: Any) -> dict[str, Any]:
    return MAKERS[table.name](n, **over)
