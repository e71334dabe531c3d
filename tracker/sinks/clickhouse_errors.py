"""Which ClickHouse failures blame the rows of an insert, and which the server.

An insert that fails because of its values (a number out of range, a string a
column cannot parse) fails again however often it is retried: PermanentError,
so the shipper bisects the batch and dead-letters only the offending rows.
Everything else (the server down, overloaded, out of memory, too many parts,
a missing table, wrong credentials, or an error we do not know) is
RetryableError: the rows stay in the log until the server takes them.
"""

from __future__ import annotations

import re

from tracker.sinks.base import PermanentError, RetryableError, SinkError

# ClickHouse error codes (src/Common/ErrorCodes.cpp) caused by the values sent.
DATA_ERROR_CODES: frozenset[int] = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    43,   # ILLEGAL_TYPE_OF_ARGUMENT
    44,   # ILLEGAL_COLUMN
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376,  # CANNOT_PARSE_UUID
    407,  # DECIMAL_OVERFLOW
    469,  # VIOLATED_CONSTRAINT
})

# Codes after which the cached table layout may be stale: the sink re-reads it.
SCHEMA_ERROR_CODES: frozenset[int] = frozenset({
    16,   # NO_SUCH_COLUMN_IN_TABLE
    47,   # UNKNOWN_IDENTIFIER
    60,   # UNKNOWN_TABLE
    81,   # UNKNOWN_DATABASE
})



class SchemaChanged(RetryableError):
    """The table or a column is missing on the server: re-create, re-read, retry."""


_MAX_CHARS = 240
_CODE = re.compile(r"Code:\s*(\d+)")
# Boilerplate of old servers' messages, and the stack traces of debug builds.
_NOISE = re.compile(r",?\s*e\.what\(\) = DB::Exception|\s*Stack trace:.*", re.DOTALL)


def error_code(status: int, body: bytes, header: str | None = None) -> int | None:
    """The ClickHouse error code of a failed HTTP response, when it names one."""
    if header and header.strip().isdigit():
        return int(header)
    match = _CODE.search(body[:512].decode("utf-8", "replace"))
    return int(match.group(1)) if match else None


def short_message(body: bytes) -> str:
    """The server's message on one bounded line (messages may quote whole values)."""
    text = _NOISE.sub("", body[:4096].decode("utf-8", "replace"))
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 3] + "..."


def http_error(status: int, body: bytes, code: int | None) -> SinkError:
    """The sink error for a non-200 answer to an INSERT."""
    message = f"HTTP {status}: {short_message(body)}"
    if code in DATA_ERROR_CODES:
        return PermanentError(message)
    if code in SCHEMA_ERROR_CODES:
        return SchemaChanged(message)
    return RetryableError(message)
