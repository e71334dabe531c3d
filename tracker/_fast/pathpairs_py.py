"""Pure-Python twin of `pathpairs.pyx`: tracking fields from URL path pairs and query strings.

This module is the test oracle: the compiled module must return the same dicts
and raise the same `ValueError` messages on every input.

Rules shared by both forms:
- text is percent-decoded to bytes, then decoded as strict UTF-8;
  a bad escape or bad UTF-8 raises ValueError;
- keys are 1..64 characters of A-Z a-z 0-9 _ . - (checked after decoding), case kept;
- the first value of a repeated key wins;
- at most 256 pairs (counted before de-duplication, so the work per request is bounded).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_PAIRS = 256
MAX_KEY_LENGTH = 64

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def decode_path_pairs(path: str, prefix_len: int) -> dict[str, str]:
    """Decode `path[prefix_len:]` as `key/value/key/value...`.

    Empty segments (`//`, a trailing `/`) are skipped before pairing; an odd
    trailing key gets the value "". '+' stays '+' in a path.
    """
    if prefix_len < 0:
        raise ValueError("prefix_len must not be negative")
    raw = _utf8(path[prefix_len:], "path")
    segments = [segment for segment in raw.split(b"/") if segment]
    pairs: dict[str, str] = {}
    for start in range(0, len(segments), 2):
        number = start // 2 + 1
        if number > MAX_PAIRS:
            raise ValueError(_too_many())
        key = _decode(segments[start], number, plus_is_space=False)
        _check_key(key)
        if start + 1 < len(segments):
            value = _decode(segments[start + 1], number, plus_is_space=False)
        else:
            value = ""
        pairs.setdefault(key, value)
    return pairs


def decode_query(query: str) -> dict[str, str]:
    """Decode an application/x-www-form-urlencoded string (without the leading '?').

    Pieces are split on '&' (empty pieces skipped), then on the first '=';
    a piece without '=' has the value "". '+' is a space.
    """
    raw = _utf8(query, "query")
    pieces = [piece for piece in raw.split(b"&") if piece]
    pairs: dict[str, str] = {}
    for index, piece in enumerate(pieces):
        number = index + 1
        if number > MAX_PAIRS:
            raise ValueError(_too_many())
        raw_key, has_value, raw_value = piece.partition(b"=")
        key = _decode(raw_key, number, plus_is_space=True)
        _check_key(key)
        value = _decode(raw_value, number, plus_is_space=True) if has_value else ""
        pairs.setdefault(key, value)
    return pairs


def known_keys(names: Iterable[object]) -> tuple[tuple[str, ...], ...]:
    """The names that can be keys (ASCII, 1 to MAX_KEY_LENGTH characters), grouped
    by length: index n holds those of n characters. For decode_url_fields."""
    groups: list[list[str]] = [[] for _ in range(MAX_KEY_LENGTH + 1)]
    for name in names:
        if type(name) is str and name.isascii() and 0 < len(name) <= MAX_KEY_LENGTH:
            groups[len(name)].append(name)
    return tuple(tuple(group) for group in groups)


def decode_url_fields(path: str, prefix_len: int, query: str,
                      known: tuple[tuple[str, ...], ...] | None = None) -> dict[str, str]:
    """The tracking fields of a URL: its path pairs, then the query's fields the
    path did not give (path first). Each part has its own MAX_PAIRS.

    `known` (from known_keys) changes no result: the compiled decoder hands back
    those very string objects for keys equal to them, so that the field table's
    lookups find them by identity; here they are only equal."""
    fields = decode_path_pairs(path, prefix_len) if len(path) > prefix_len else {}
    if query:
        for key, value in decode_query(query).items():
            fields.setdefault(key, value)
    return fields


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (unpaired surrogate)") from None


def _decode(raw: bytes, number: int, plus_is_space: bool) -> str:
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        chunks = raw.split(b"%")
        out = bytearray(chunks[0])
        for chunk in chunks[1:]:
            if len(chunk) < 2 or chunk[0] not in _HEX_DIGITS or chunk[1] not in _HEX_DIGITS:
                raise ValueError(f"pair {number}: invalid percent-escape")
            out.append(int(chunk[:2], 16))
            out += chunk[2:]
        raw = bytes(out)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"pair {number}: not valid UTF-8 after percent-decoding") from None


def _check_key(key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not _KEY_CHARS.issuperset(key):
        raise ValueError(_bad_key(key))


def _bad_key(key: str) -> str:
    shown = key if len(key) <= MAX_KEY_LENGTH else key[:MAX_KEY_LENGTH] + "..."
    return f"invalid key {shown!r}: expected 1-64 characters of A-Z a-z 0-9 _ . -"


def _too_many() -> str:
    return f"too many pairs (at most {MAX_PAIRS})"
