import uuid

import pytest

from tracker.events import FieldError
from tracker.revenue import build_payment_rows, normalize_amount, normalize_currency

VID = str(uuid.uuid4())


def test_one_payment_is_one_row_with_exact_decimals() -> None:
    (row,) = build_payment_rows({"vid": VID, "uid": "U-1", "oid": "Site", "orid": "O-9",
                                 "amt": 12.5, "currency": "eur", "coupon": "X"}, None, 1000)
    assert row["amt"] == "12.5000" and row["currency"] == "EUR"
    assert (row["vid"], row["uid"], row["oid"], row["orid"]) == (VID, "U-1", "Site", "O-9")
    assert row["created_at"] == 1000 and uuid.UUID(row["pid"])
    assert row["params"] == {"coupon": "X"}


def test_line_items_share_the_top_level_fields() -> None:
    rows = build_payment_rows({"uid": "U", "orid": "O", "currency": "USD", "payments": [
        {"amt": "10.10", "sku": "A", "qty": 2, "price": "5.05"},
        {"amt": 3, "currency": "CAD", "orid": "O-2"}]}, VID, 5)
    assert [r["amt"] for r in rows] == ["10.1000", "3.0000"]
    assert [r["currency"] for r in rows] == ["USD", "CAD"]
    assert [r["orid"] for r in rows] == ["O", "O-2"]
    assert rows[0]["qty"] == 2 and rows[0]["price"] == "5.0500"
    assert all(r["vid"] == VID for r in rows)  # from the cookie
    assert len({r["pid"] for r in rows}) == 2


def test_a_client_pid_is_kept_for_idempotent_retries() -> None:
    pid = str(uuid.uuid4())
    (row,) = build_payment_rows({"amt": 1, "pid": pid}, None, 1)
    assert row["pid"] == pid


@pytest.mark.parametrize("body, words", [
    ({}, "amt is required"),
    ({"amt": "abc"}, "amt must be a number"),
    ({"amt": "NaN"}, "finite"),
    ({"amt": 1e20}, "too large"),
    ({"amt": 1, "currency": "euro"}, "ISO 4217"),
    ({"amt": 1, "vid": "nope"}, "vid must be a UUID"),
    ({"payments": []}, "payments must be a list"),
    ({"payments": ["x"]}, "payments[0] must be an object"),
    ({"payments": [{"amt": 1, "qty": -1}]}, "payments[0].qty"),
    ({"amt": 1, "email": "a@b.c"}, "email is not accepted"),
    ({"payments": [{"amt": 1, "params": {"cell": "+1"}}]}, "cell is not accepted"),
    ([1, 2], "JSON object"),
])
def test_bad_payments_are_refused_with_a_reason(body, words) -> None:
    with pytest.raises(FieldError) as info:
        build_payment_rows(body, None, 1)
    assert words in str(info.value)


def test_amount_and_currency_rules() -> None:
    assert normalize_amount("amt", "-0.00005") == "-0.0001"
    assert normalize_amount("amt", "99999999999999.9999") == "99999999999999.9999"
    assert normalize_currency("gbp") == "GBP"
    with pytest.raises(FieldError):
        normalize_amount("amt", True)
