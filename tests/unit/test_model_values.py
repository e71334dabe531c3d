import datetime as dt
import uuid
from decimal import Decimal

from tracker.model.tables import AGREEMENTS, PAYMENTS
from tracker.model.values import row_dict


def test_store_values_come_back_in_row_form() -> None:
    aid = uuid.uuid4()
    names = ["aid", "created_at", "cflags", "params", "vid", "unknown"]
    values = [aid, dt.datetime(2026, 1, 2, 3, 4, 5, 678000), 5, '{"a": [1]}', None, "x"]
    assert row_dict(AGREEMENTS, names, values) == {
        "aid": str(aid), "created_at": 1767323045678, "cflags": 5, "params": {"a": [1]}}


def test_aware_times_integer_milliseconds_and_decimals() -> None:
    aware = dt.datetime(1970, 1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    row = row_dict(PAYMENTS, ["created_at", "amt"], [aware, Decimal("12.5")])
    assert row == {"created_at": 0, "amt": "12.5000"}
    assert row_dict(PAYMENTS, ["created_at"], [1234]) == {"created_at": 1234}
