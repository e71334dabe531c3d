"""The WebSocket frame parser and writers: lengths, masking, fragments, control frames, limits."""

from __future__ import annotations

import os

import pytest

from tests.unit.ws_fake import client_frame, server_events
from tracker.ws.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    CloseError,
    FrameParser,
    Message,
    Ping,
    Pong,
    close_frame,
    encode_frame,
    pong_frame,
    text_frame,
    unmask,
)

LIMIT = 100_000


def parser(limit: int = LIMIT) -> FrameParser:
    return FrameParser(limit, limit)


def events_of(data: bytes, p: FrameParser | None = None) -> list[object]:
    p = p or parser()
    p.feed(data)
    out = []
    while (event := p.next_event()) is not None:
        out.append(event)
    return out


def refusal(data: bytes, p: FrameParser | None = None) -> CloseError:
    with pytest.raises(CloseError) as info:
        events_of(data, p)
    return info.value


def test_unmask_matches_bytewise_xor() -> None:
    mask = b"\x37\xfa\x21\x3d"
    for n in (0, 1, 3, 4, 5, 125, 1000):
        payload = os.urandom(n)
        expected = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert unmask(payload, mask) == expected
        assert unmask(unmask(payload, mask), mask) == payload


def test_rfc_example_masked_hello() -> None:
    # RFC 6455 5.7: a masked text frame "Hello".
    frame = bytes.fromhex("818537fa213d7f9f4d5158")
    assert events_of(frame) == [Message(False, b"Hello")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_7_16_and_64_bit_lengths(size: int) -> None:
    payload = os.urandom(size)
    frame = client_frame(OP_BINARY, payload)
    header = {0: 2, 125: 2, 126: 4, 65535: 4}.get(size, 10) + 4
    assert len(frame) == header + size
    assert events_of(frame) == [Message(True, payload)]


def test_bytes_one_at_a_time() -> None:
    p = parser()
    data = client_frame(OP_TEXT, b'{"a":1}') + client_frame(OP_PING, b"hi")
    got = []
    for i in range(len(data)):
        got += events_of(data[i:i + 1], p)
    assert got == [Message(False, b'{"a":1}'), Ping(b"hi")]
    assert p.buffered == 0


def test_unmasked_client_frame_is_1002() -> None:
    assert refusal(encode_frame(OP_TEXT, b"{}")).code == CloseCode.PROTOCOL_ERROR


def test_server_side_parser_refuses_masked_frames() -> None:
    p = FrameParser(LIMIT, LIMIT, require_mask=False)
    assert refusal(client_frame(OP_TEXT, b"{}"), p).code == CloseCode.PROTOCOL_ERROR
    assert server_events(text_frame("{}")) == [Message(False, b"{}")]


def test_fragments_with_control_frames_between() -> None:
    data = (
        client_frame(OP_TEXT, b'[{"a"', fin=False)
        + client_frame(OP_PING, b"1")
        + client_frame(OP_CONTINUATION, b":1},", fin=False)
        + client_frame(OP_PONG, b"")
        + client_frame(OP_CONTINUATION, b"{}]")
    )
    assert events_of(data) == [Ping(b"1"), Pong(b""), Message(False, b'[{"a":1},{}]')]


def test_fragmented_binary_keeps_its_type() -> None:
    data = client_frame(OP_BINARY, b"\x00\x01", fin=False) + client_frame(OP_CONTINUATION, b"\x02")
    assert events_of(data) == [Message(True, b"\x00\x01\x02")]


def test_continuation_without_a_message_is_1002() -> None:
    assert refusal(client_frame(OP_CONTINUATION, b"x")).code == CloseCode.PROTOCOL_ERROR


def test_new_message_inside_a_fragmented_one_is_1002() -> None:
    data = client_frame(OP_TEXT, b"[", fin=False) + client_frame(OP_TEXT, b"[]")
    assert refusal(data).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("opcode", [3, 7, 0xB, 0xF])
def test_unknown_opcodes_are_1002(opcode: int) -> None:
    assert refusal(client_frame(opcode, b"")).code == CloseCode.PROTOCOL_ERROR


def test_reserved_bits_are_1002() -> None:
    frame = encode_frame(OP_TEXT, b"{}", mask=b"abcd", rsv=4)
    assert refusal(frame).code == CloseCode.PROTOCOL_ERROR


def test_control_frames_over_125_bytes_or_fragmented_are_1002() -> None:
    assert events_of(client_frame(OP_PING, b"x" * 125)) == [Ping(b"x" * 125)]
    assert refusal(client_frame(OP_PING, b"x" * 126)).code == CloseCode.PROTOCOL_ERROR
    assert refusal(client_frame(OP_PING, b"x", fin=False)).code == CloseCode.PROTOCOL_ERROR


def test_oversized_declared_length_refused_from_the_header_alone() -> None:
    p = parser(1000)
    # Only the header of a 2 GB frame: refused without waiting for (or keeping) its payload.
    head = bytes([0x82, 0x80 | 127]) + (2 << 30).to_bytes(8, "big") + b"mask"
    error = refusal(head, p)
    assert error.code == CloseCode.TOO_BIG
    assert p.buffered == 0
    p.feed(b"x" * 10_000)  # a failed parser keeps nothing
    assert p.buffered == 0


def test_64_bit_length_with_top_bit_is_1002() -> None:
    head = bytes([0x82, 0x80 | 127]) + (1 << 63).to_bytes(8, "big") + b"mask"
    assert refusal(head).code == CloseCode.PROTOCOL_ERROR


def test_limit_is_exact_and_applies_to_the_whole_fragmented_message() -> None:
    assert events_of(client_frame(OP_TEXT, b"x" * 1000), parser(1000)) == [
        Message(False, b"x" * 1000)
    ]
    assert refusal(client_frame(OP_TEXT, b"x" * 1001), parser(1000)).code == CloseCode.TOO_BIG
    p = parser(1000)
    first = client_frame(OP_TEXT, b"x" * 600, fin=False)
    assert events_of(first, p) == []
    # The second fragment's header alone pushes the total over the limit.
    second_head = client_frame(OP_CONTINUATION, b"x" * 401)[:8]
    assert refusal(second_head, p).code == CloseCode.TOO_BIG


def test_text_and_binary_limits_are_separate() -> None:
    p = FrameParser(10, 20)
    assert events_of(client_frame(OP_BINARY, b"b" * 20), p) == [Message(True, b"b" * 20)]
    assert refusal(client_frame(OP_TEXT, b"t" * 11), p).code == CloseCode.TOO_BIG


def test_close_frames() -> None:
    assert events_of(client_frame(OP_CLOSE, b"")) == [Close(CloseCode.NO_STATUS, "")]
    payload = (1000).to_bytes(2, "big") + "bye ✓".encode()
    assert events_of(client_frame(OP_CLOSE, payload)) == [Close(1000, "bye ✓")]
    assert events_of(client_frame(OP_CLOSE, (4001).to_bytes(2, "big"))) == [Close(4001, "")]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_invalid_close_codes_are_1002(code: int) -> None:
    frame = client_frame(OP_CLOSE, code.to_bytes(2, "big"))
    assert refusal(frame).code == CloseCode.PROTOCOL_ERROR


def test_close_with_one_byte_is_1002_and_bad_utf8_reason_is_1007() -> None:
    assert refusal(client_frame(OP_CLOSE, b"\x03")).code == CloseCode.PROTOCOL_ERROR
    frame = client_frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"\xff")
    assert refusal(frame).code == CloseCode.INVALID_DATA


def test_writers() -> None:
    assert text_frame('{"accepted":3}') == b'\x81\x0e{"accepted":3}'
    assert pong_frame(b"hi") == b"\x8a\x02hi"
    assert close_frame(1001, "bye") == b"\x88\x05\x03\xe9bye"
    assert close_frame(CloseCode.NO_STATUS) == b"\x88\x00"
    long = close_frame(1009, "é" * 100)  # cut to 123 bytes without splitting a character
    (event,) = server_events(long)
    assert event == Close(1009, "é" * 61)
    assert len(long) <= 2 + 125
