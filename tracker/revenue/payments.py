"""Turning one /tr/v1/ltv/ body into `payments` rows, one per line item.

A body is one payment ({"vid","uid","oid","orid","amt","currency",...}) or the
same with "payments": [{"amt","currency","orid",...}, ...]; fields at the top
apply to every line that lacks them. Lifetime value per visitor, user and
order is derived by the stores from these rows (DuckDB keeps an `ltv` table
in the same transaction; ClickHouse has a view over `payments FINAL`), so a
replayed row never counts twice.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tracker._fast import normalize_uuid, uuid7
from tracker.events import FieldError

# DECIMAL(18,4): 14 digits before the point.
MAX_AMOUNT = Decimal("99999999999999.9999")
FOUR_PLACES = Decimal("0.0001")
CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_LINES = 1000
MAX_TEXT = 1024
TEXT_FIELDS = ("uid", "oid", "orid", "product", "sku", "category")
LINE_KEYS = frozenset({"pid", "amt", "currency", "orid", "product", "sku", "category", "qty",
                       "price", "params", *TEXT_FIELDS})
SHARED_KEYS = frozenset({"vid", "sid", "eid", "uid", "oid", "orid", "currency", "payments"})
# Payments have no hashed columns: personal data belongs on an event, where it is hashed.
PERSONAL_KEYS = frozenset({"email", "cell", "uname", "ip"})


def normalize_amount(name: str, value: Any) -> str:
    """A decimal amount as DECIMAL(18,4) text ("12.5000"); numbers or numeric strings."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError(f"{name} must be a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise FieldError(f"{name} must be a number") from None
    if not amount.is_finite():
        raise FieldError(f"{name} must be a finite number")
    amount = amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
    if abs(amount) > MAX_AMOUNT:
        raise FieldError(f"{name} is too large")
    return f"{amount:.4f}"


def normalize_currency(value: Any) -> str:
    """ISO 4217 letter codes, upper-cased ("eur" -> "EUR")."""
    if not isinstance(value, str) or not CURRENCY.fullmatch(value):
        raise FieldError("currency must be a three-letter ISO 4217 code such as EUR")
    return value.upper()


def _text(name: str, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise FieldError(f"{name} must be a string of at most {MAX_TEXT} characters")
    return value


def _uuid(name: str, value: Any) -> str:
    uuid = normalize_uuid(value) if isinstance(value, str) else None
    if uuid is None:
        raise FieldError(f"{name} must be a UUID")
    return uuid


def build_payment_rows(body: Any, cookie_vid: str | None, now_ms: int) -> list[dict[str, Any]]:
    """The `payments` rows of one request; FieldError names the first problem."""
    if not isinstance(body, dict):
        raise FieldError("the body must be a JSON object")
    personal = PERSONAL_KEYS.intersection(body)
    if personal:
        raise FieldError(f"{sorted(personal)[0]} is not accepted on a payment "
                         "(send personal data with an event, where it is hashed)")
    lines = body.get("payments")
    if lines is None:
        lines = [{k: v for k, v in body.items() if k not in SHARED_KEYS or k in LINE_KEYS}]
    elif not isinstance(lines, list) or not lines or len(lines) > MAX_LINES:
        raise FieldError(f"payments must be a list of 1 to {MAX_LINES} line items")
    shared: dict[str, Any] = {"created_at": now_ms}
    vid = body.get("vid") or cookie_vid
    if vid:
        shared["vid"] = _uuid("vid", vid)
    for name in ("sid", "eid"):
        if body.get(name):
            shared[name] = _uuid(name, body[name])
    for name in ("uid", "oid", "orid"):
        if body.get(name) is not None:
            shared[name] = _text(name, body[name])
    default_currency = body.get("currency")
    rows = []
    for index, line in enumerate(lines):
        where = f"payments[{index}]." if "payments" in body else ""
        if not isinstance(line, dict):
            raise FieldError(f"payments[{index}] must be an object")
        rows.append(_line_row(line, shared, default_currency, where))
    return rows


def _line_row(line: dict[str, Any], shared: dict[str, Any], default_currency: Any,
              where: str) -> dict[str, Any]:
    row = dict(shared)
    pid = line.get("pid")
    row["pid"] = _uuid(f"{where}pid", pid) if pid else uuid7()  # a client pid makes retries safe
    if line.get("amt") is None:
        raise FieldError(f"{where}amt is required")
    row["amt"] = normalize_amount(f"{where}amt", line["amt"])
    currency = line.get("currency", default_currency)
    if currency is not None:
        row["currency"] = normalize_currency(currency)
    for name in TEXT_FIELDS:
        if line.get(name) is not None:
            row[name] = _text(f"{where}{name}", line[name])
    if line.get("qty") is not None:
        qty = line["qty"]
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 <= qty < 1 << 31:
            raise FieldError(f"{where}qty must be a whole number of at least 0")
        row["qty"] = qty
    if line.get("price") is not None:
        row["price"] = normalize_amount(f"{where}price", line["price"])
    extra = {k: v for k, v in line.items() if k not in LINE_KEYS}
    params = line.get("params")
    if params is not None and not isinstance(params, dict):
        raise FieldError(f"{where}params must be an object")
    personal = PERSONAL_KEYS.intersection(extra).union(PERSONAL_KEYS.intersection(params or {}))
    if personal:
        raise FieldError(f"{where}{sorted(personal)[0]} is not accepted on a payment "
                         "(send personal data with an event, where it is hashed)")
    merged = {**extra, **(params or {})}
    if merged:
        row["params"] = merged
    return row
