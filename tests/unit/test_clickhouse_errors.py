"""Which ClickHouse answers blame the rows (PermanentError) and which the server."""

from __future__ import annotations

import struct

import lz4.block
import pytest

from tracker.sinks.base import PermanentError, RetryableError
from tracker.sinks.clickhouse_errors import (
    SchemaChanged,
    error_code,
    http_error,
    short_message,
)
from tracker.sinks.clickhouse_http import FRAME_BYTES, HttpInserter, lz4_frames

OLD_STYLE = (b"Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected , "
             b"before: 'abc', e.what() = DB::Exception\n")
NEW_STYLE = (b"Code: 252. DB::Exception: Too many parts (300). Merges are processing "
             b"significantly slower than inserts. (TOO_MANY_PARTS) (version 24.3.1.1)\n")


def test_error_code_from_the_body_of_old_and_new_servers() -> None:
    assert error_code(500, OLD_STYLE) == 27
    assert error_code(500, NEW_STYLE) == 252
    assert error_code(502, b"Bad Gateway") is None


def test_error_code_header_wins() -> None:
    assert error_code(500, NEW_STYLE, "241") == 241


@pytest.mark.parametrize("code", [6, 27, 41, 53, 69, 70, 72, 376, 407])
def test_data_errors_are_permanent(code: int) -> None:
    exc = http_error(500, f"Code: {code}, e.displayText() = DB::Exception: bad".encode(), code)
    assert isinstance(exc, PermanentError)


@pytest.mark.parametrize("code", [241, 173, 252, 159, 202, 209, 210, 193, 516, 999, None])
def test_server_and_unknown_errors_are_retryable(code: int | None) -> None:
    exc = http_error(500, b"Code: 1. DB::Exception: whatever", code)
    assert isinstance(exc, RetryableError) and not isinstance(exc, SchemaChanged)


@pytest.mark.parametrize("code", [16, 60, 81])
def test_missing_tables_and_columns_ask_for_a_reopen(code: int) -> None:
    assert isinstance(http_error(404, b"Code: 60. Table x does not exist", code), SchemaChanged)


def test_message_is_one_bounded_line_without_boilerplate() -> None:
    assert short_message(OLD_STYLE) == (
        "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected , before: 'abc'")
    long = b"Code: 6. Cannot parse '" + b"x" * 10_000 + b"'\nStack trace:\n0. f\n1. g\n"
    text = short_message(long)
    assert len(text) <= 240 and "\n" not in text and "Stack" not in text


def test_lz4_frames_decode_to_the_input() -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MB: three frames
    framed = lz4_frames(data)
    out = bytearray()
    pos = 0
    frames = 0
    while pos < len(framed):
        assert framed[pos:pos + 16] == bytes(16)
        method, size, raw = struct.unpack_from("<BII", framed, pos + 16)
        assert method == 0x82 and raw <= FRAME_BYTES
        out += lz4.block.decompress(framed[pos + 25:pos + 16 + size], uncompressed_size=raw)
        pos += 16 + size
        frames += 1
    assert bytes(out) == data and frames == 3


def test_unreachable_server_is_retryable_and_names_no_password() -> None:
    inserter = HttpInserter("127.0.0.1", 1, user="u", password="hunter2", connect_timeout=2)
    with pytest.raises(RetryableError) as info:
        inserter.insert("INSERT INTO t FORMAT Native", b"\x00\x00")
    assert "hunter2" not in str(info.value) and "127.0.0.1:1" in str(info.value)
