"""Response header lines on the wire (pure-Python twin of httpwire.pyx)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def header_lines(headers: Iterable[tuple[Any, Any]]) -> bytes:
    """``b"name: value\\r\\n"`` for each header, in latin-1.

    ValueError for a CR, LF or NUL in a name or value: it would let input
    split the response in two. UnicodeEncodeError for text beyond latin-1.
    """
    lines = []
    for name, value in headers:
        name = f"{name}"
        value = f"{value}"
        if _unsafe(name) or _unsafe(value):
            raise ValueError(f"control character in response header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


def _unsafe(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text
