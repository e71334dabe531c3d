"""Checking and converting raw input values to the types of the `events` columns.

Inputs come from path pairs and query strings (always text) or JSON (any JSON
value), so numeric and boolean columns also accept their text forms. An empty
string in a numeric, boolean, time or id field counts as absent (a form left
blank). Every converter takes the input field name, used in the error message.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tracker._fast import normalize_uuid

_INT64_MAX = 2**63 - 1
# 9999-12-31T23:59:59.999Z: the last instant an ISO-8601 year of four digits names.
_MAX_TS_MS = 253_402_300_799_999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off"))


class FieldError(ValueError):
    """One event's input is unusable; the message is the reason sent to the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def to_str(name: str, value: Any, max_chars: int) -> str:
    """Text as given (case kept); numbers become their decimal text."""
    if type(value) is str:
        if len(value) > max_chars:
            raise FieldError(f"{name} is longer than {max_chars} characters")
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    raise FieldError(f"{name} must be a string")


def to_float(name: str, value: Any) -> float | None:
    if type(value) is float or type(value) is int:
        number = float(value)
    elif type(value) is str:
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise FieldError(f"{name} must be a number") from None
    else:
        raise FieldError(f"{name} must be a number")
    if not math.isfinite(number):
        raise FieldError(f"{name} must be a finite number")
    return number


def to_count(name: str, value: Any) -> int | None:
    """A non-negative 64-bit integer (viewport sizes, consent flags)."""
    if type(value) is int:
        number = value
    elif type(value) is str:
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            raise FieldError(f"{name} must be an integer") from None
    elif type(value) is float and value.is_integer():
        number = int(value)
    else:
        raise FieldError(f"{name} must be an integer")
    if not 0 <= number <= _INT64_MAX:
        raise FieldError(f"{name} must be between 0 and {_INT64_MAX}")
    return number


def to_bool(name: str, value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        if not value:
            return None
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise FieldError(f"{name} must be true or false")


def to_time_ms(name: str, value: Any) -> int | None:
    """Milliseconds since the epoch, from a number or an ISO-8601 text (UTC if no zone)."""
    if type(value) is int:
        ms = value
    elif type(value) is float and math.isfinite(value):
        ms = round(value)
    elif type(value) is str:
        if not value:
            return None
        if value.isdigit():
            ms = int(value)
        else:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise FieldError(
                    f"{name} must be milliseconds since 1970 or an ISO-8601 time"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ms = (moment - _EPOCH) // _ONE_MS
    else:
        raise FieldError(f"{name} must be milliseconds since 1970 or an ISO-8601 time")
    if not 0 <= ms <= _MAX_TS_MS:
        raise FieldError(f"{name} is out of range")
    return ms


def to_object(name: str, value: Any) -> dict[str, Any]:
    """A JSON object; text (from a query string) is parsed as JSON first."""
    if type(value) is str:
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise FieldError(f"{name} must be a JSON object") from None
    if type(value) is not dict:
        raise FieldError(f"{name} must be a JSON object")
    return value


def to_uuid(name: str, value: Any) -> str | None:
    """A client-given id that must be a UUID (canonical lowercase text)."""
    if type(value) is str:
        if not value:
            return None
        normalized = normalize_uuid(value)
        if normalized is not None:
            return normalized
    raise FieldError(f"{name} must be a UUID")


def check_params_size(params: dict[str, Any], limit: int) -> None:
    """FieldError unless `params` is JSON of at most `limit` bytes."""
    try:
        size = len(orjson.dumps(params))
    except orjson.JSONEncodeError:
        raise FieldError("params must hold only JSON values") from None
    if size > limit:
        raise FieldError(f"params is larger than {limit} bytes")
