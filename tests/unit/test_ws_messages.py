"""Decoding WebSocket messages: JSON text, LZ4 binary, shapes, sizes."""

from __future__ import annotations

import os

import lz4.block
import orjson
import pytest

from tracker.routes.body import MAX_EVENTS_PER_REQUEST
from tracker.ws.frames import CloseCode, CloseError
from tracker.ws.messages import decode_message, max_binary_wire_bytes


def lz4_message(raw: bytes, declared: int | None = None) -> bytes:
    size = len(raw) if declared is None else declared
    return size.to_bytes(4, "little") + lz4.block.compress(raw, store_size=False)


def close_code(data: bytes, binary: bool, max_bytes: int = 1000) -> int:
    with pytest.raises(CloseError) as info:
        decode_message(data, binary, max_bytes)
    return info.value.code


def test_text_shapes() -> None:
    assert decode_message(b'{"en":"a"}', False, 1000) == ([{"en": "a"}], False)
    assert decode_message(b'[{"en":"a"},3]', False, 1000) == ([{"en": "a"}, 3], True)
    assert decode_message(b'{"batch":[{"en":"b"}]}', False, 1000) == ([{"en": "b"}], True)


def test_binary_lz4() -> None:
    raw = orjson.dumps([{"en": "page", "url": "https://example.com/"}] * 20)
    items, is_batch = decode_message(lz4_message(raw), True, 10_000)
    assert is_batch and len(items) == 20 and items[0]["en"] == "page"


@pytest.mark.parametrize("data", [b"{", b"", b"  ", b"nope", b"42", b'"s"', b'{"batch":1}'])
def test_bad_json_or_shape_is_1007(data: bytes) -> None:
    assert close_code(data, False) == CloseCode.INVALID_DATA


def test_invalid_utf8_in_text_is_1007() -> None:
    assert close_code(b'{"en":"\xff\xfe"}', False) == CloseCode.INVALID_DATA
    assert close_code(b'{"en":"\xed\xa0\x80"}', False) == CloseCode.INVALID_DATA  # a surrogate


def test_text_over_the_limit_is_1009() -> None:
    body = orjson.dumps({"en": "x" * 1000})
    assert close_code(body, False, max_bytes=len(body) - 1) == CloseCode.TOO_BIG
    assert decode_message(body, False, len(body))[0][0]["en"] == "x" * 1000


def test_lz4_declaring_2_gb_is_1009_without_decompressing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("decompress must not be called")

    monkeypatch.setattr(lz4.block, "decompress", never)
    data = (2 << 30).to_bytes(4, "little") + b"\x00" * 16
    assert close_code(data, True, max_bytes=1 << 20) == CloseCode.TOO_BIG


def test_lz4_real_size_over_the_declared_one_is_refused() -> None:
    raw = orjson.dumps({"en": "x" * 5000})
    # Declared small enough to pass the limit: LZ4 cannot write past it.
    assert close_code(lz4_message(raw, declared=500), True) == CloseCode.INVALID_DATA
    # Declared larger than the data: the size check after decompressing catches it.
    assert close_code(lz4_message(b"{}", declared=900), True) == CloseCode.INVALID_DATA


def test_bad_lz4_or_short_binary_is_1007() -> None:
    assert close_code(b"\x01\x00", True) == CloseCode.INVALID_DATA
    assert close_code((10).to_bytes(4, "little") + b"\xff\xff\xff", True) == CloseCode.INVALID_DATA
    assert close_code(lz4_message(b"{"), True) == CloseCode.INVALID_DATA
    assert close_code((0).to_bytes(4, "little"), True) == CloseCode.INVALID_DATA


def test_too_many_events_is_1009() -> None:
    body = b"[" + b",".join([b"{}"] * (MAX_EVENTS_PER_REQUEST + 1)) + b"]"
    assert close_code(body, False, max_bytes=1 << 20) == CloseCode.TOO_BIG


def test_wire_bound_covers_incompressible_data() -> None:
    for size in (0, 1, 1000, 100_000):
        compressed = lz4_message(os.urandom(size))
        assert len(compressed) <= max_binary_wire_bytes(size)
