"""WebSocket frames (RFC 6455 section 5), sans IO: an incremental parser and writers.

``FrameParser`` is pull-based: ``feed`` stores bytes, ``next_event`` returns
the next complete ``Message``, ``Ping``, ``Pong`` or ``Close`` (or None when
more bytes are needed). The caller pulls only when it can act on an event, so
bytes it is not ready for stay as they arrived. Every size limit is checked
from a frame's header, before its payload is buffered.

Text payloads are returned as bytes, not checked for UTF-8 here: the only
consumer parses them with orjson, which rejects invalid UTF-8 anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPS = (OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)
MAX_CONTROL_PAYLOAD = 125


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # received without a code; never sent
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


# Codes a peer may put in a Close frame: the RFC's and IANA's registered ones,
# and the ranges for libraries (3000-3999) and applications (4000-4999).
_VALID_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


class CloseError(Exception):
    """The connection must be closed with ``code``; ``reason`` goes in the Close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class Message:
    """A complete data message, fragments joined."""

    binary: bool
    data: bytes


@dataclass(slots=True)
class Ping:
    data: bytes


@dataclass(slots=True)
class Pong:
    data: bytes


@dataclass(slots=True)
class Close:
    code: int  # CloseCode.NO_STATUS when the frame carried none
    reason: str


Event = Message | Ping | Pong | Close


class FrameParser:
    """Bytes in, events out, with the limits of one connection.

    A message (all its fragments) may hold at most ``max_text_bytes`` of
    payload when it is text and ``max_binary_bytes`` when binary. After a
    ``CloseError`` the parser is unusable: the connection is being failed.
    """

    __slots__ = (
        "_buf",
        "_failed",
        "_fragments",
        "_max_binary",
        "_max_text",
        "_message_binary",
        "_message_size",
        "_require_mask",
    )

    def __init__(self, max_text_bytes: int, max_binary_bytes: int, require_mask: bool = True):
        self._max_text = max_text_bytes
        self._max_binary = max_binary_bytes
        self._require_mask = require_mask  # clients must mask (RFC 6455 5.1)
        self._buf = bytearray()
        self._fragments: list[bytes] | None = None  # set while a message is incomplete
        self._message_binary = False
        self._message_size = 0
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as part of an event."""
        return len(self._buf) + self._message_size

    def feed(self, data: bytes) -> None:
        if not self._failed:
            self._buf += data

    def next_event(self) -> Event | None:
        """The next complete event, or None until more bytes arrive.

        Raises ``CloseError`` (1002 protocol error, 1007 bad close reason,
        1009 message too big).
        """
        try:
            while True:
                frame = self._next_frame()
                if frame is None:
                    return None
                event = self._assemble(*frame)
                if event is not None:
                    return event
        except CloseError:
            self._failed = True
            self._buf.clear()
            self._fragments = None
            raise

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        """(fin, opcode, unmasked payload) of the next whole frame, checked against limits."""
        if self._failed:
            return None
        buf = self._buf
        have = len(buf)
        if have < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise CloseError(CloseCode.PROTOCOL_ERROR, "reserved bits set without an extension")
        masked = bool(b1 & 0x80)
        if masked != self._require_mask:
            raise CloseError(CloseCode.PROTOCOL_ERROR,
                             "client frames must be masked" if self._require_mask
                             else "server frames must not be masked")
        length = b1 & 0x7F
        pos = 2
        if length == 126:
            if have < 4:
                return None
            length = int.from_bytes(buf[2:4], "big")
            pos = 4
        elif length == 127:
            if have < 10:
                return None
            length = int.from_bytes(buf[2:10], "big")
            if length >> 63:
                raise CloseError(CloseCode.PROTOCOL_ERROR, "frame length has its top bit set")
            pos = 10
        self._check_frame(fin, opcode, length)
        mask_at = pos
        if masked:
            pos += 4
        end = pos + length
        if have < end:
            return None
        payload = bytes(buf[pos:end])
        if masked:
            payload = unmask(payload, bytes(buf[mask_at:mask_at + 4]))
        del buf[:end]
        return fin, opcode, payload

    def _check_frame(self, fin: bool, opcode: int, length: int) -> None:
        """Refuse a frame from its header alone: nothing of its payload is kept yet."""
        if opcode in _CONTROL_OPS:
            if not fin:
                raise CloseError(CloseCode.PROTOCOL_ERROR, "control frames must not be fragmented")
            if length > MAX_CONTROL_PAYLOAD:
                raise CloseError(CloseCode.PROTOCOL_ERROR,
                                 "control frame payload is over 125 bytes")
            return
        if opcode == OP_CONTINUATION:
            if self._fragments is None:
                raise CloseError(CloseCode.PROTOCOL_ERROR, "continuation frame without a message")
            binary = self._message_binary
            size = self._message_size + length
        elif opcode in _DATA_OPS:
            if self._fragments is not None:
                raise CloseError(CloseCode.PROTOCOL_ERROR,
                                 "new message before the previous one finished")
            binary = opcode == OP_BINARY
            size = length
        else:
            raise CloseError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        limit = self._max_binary if binary else self._max_text
        if size > limit:
            raise CloseError(CloseCode.TOO_BIG, f"message is over {limit} bytes")

    def _assemble(self, fin: bool, opcode: int, payload: bytes) -> Event | None:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if opcode == OP_CLOSE:
            return parse_close(payload)
        if opcode != OP_CONTINUATION:
            if fin:
                return Message(opcode == OP_BINARY, payload)
            self._fragments = [payload]
            self._message_binary = opcode == OP_BINARY
            self._message_size = len(payload)
            return None
        fragments = self._fragments
        fragments.append(payload)
        self._message_size += len(payload)
        if not fin:
            return None
        self._fragments = None
        self._message_size = 0
        return Message(self._message_binary, b"".join(fragments))


def parse_close(payload: bytes) -> Close:
    """The code and reason of a Close frame's payload (RFC 6455 5.5.1)."""
    if not payload:
        return Close(CloseCode.NO_STATUS, "")
    if len(payload) == 1:
        raise CloseError(CloseCode.PROTOCOL_ERROR, "close frame payload of one byte")
    code = int.from_bytes(payload[:2], "big")
    if code not in _VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise CloseError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise CloseError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None
    return Close(code, reason)


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeated 4-byte ``mask``, as one big-integer operation."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


# Writers. The server never masks; ``mask`` exists for clients (and tests).


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None,
                 rsv: int = 0) -> bytes:
    """One frame; ``rsv`` (0-7) sets the reserved bits, for tests of refusal."""
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | (rsv & 7) << 4 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += n.to_bytes(8, "big")
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + unmask(payload, mask)


def text_frame(data: bytes | str) -> bytes:
    return encode_frame(OP_TEXT, data.encode() if isinstance(data, str) else data)


def binary_frame(data: bytes) -> bytes:
    return encode_frame(OP_BINARY, data)


def pong_frame(data: bytes) -> bytes:
    return encode_frame(OP_PONG, data)


def ping_frame(data: bytes = b"") -> bytes:
    return encode_frame(OP_PING, data)


def close_frame(code: int, reason: str = "") -> bytes:
    """A Close frame; the reason is cut to fit the 125-byte control payload."""
    if code == CloseCode.NO_STATUS:
        return encode_frame(OP_CLOSE, b"")  # answer to a Close that carried no code
    raw = reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2]
    raw = raw.decode("utf-8", "ignore").encode("utf-8")  # never cut a character in two
    return encode_frame(OP_CLOSE, code.to_bytes(2, "big") + raw)
