"""Decoding tracking request bodies: gzip (bounded), JSON, and the accepted shapes."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

# More events than this in one request is refused: each costs enrichment time,
# and a 1 MB body of "{}" would otherwise be half a million of them.
MAX_EVENTS_PER_REQUEST = 10_000


class BodyError(Exception):
    """The body cannot be used; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding; never inflates more than `limit` bytes (gzip bombs)."""
    if not encoding or encoding == "identity":
        return body
    encoding = encoding.strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r} (use gzip)")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise BodyError(400, "the body is not valid gzip data") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyError(413, f"the decompressed body is larger than {limit} bytes")
    if not inflater.eof:
        raise BodyError(400, "the gzip data is truncated")
    return out


def parse_events(body: bytes) -> tuple[list[Any], bool]:
    """Parse a JSON body into a list of event candidates.

    Accepts one object, an array of objects, or {"batch": [...]}. Returns the
    items and whether the request was a batch (which changes the response).
    Items are not checked here: a non-object item is a per-index error later.
    """
    if not body or body.isspace():  # isspace: the same ASCII blanks as strip(), no copy
        raise BodyError(400, "the body is empty; send a JSON object or array")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BodyError(400, "the body is not valid JSON") from None
    if isinstance(doc, dict) and "batch" in doc and len(doc) == 1:
        doc = doc["batch"]
        if not isinstance(doc, list):
            raise BodyError(400, '"batch" must be an array of event objects')
    if isinstance(doc, dict):
        return [doc], False
    if not isinstance(doc, list):
        raise BodyError(400, "the body must be a JSON object or an array of objects")
    if len(doc) > MAX_EVENTS_PER_REQUEST:
        raise BodyError(413, f"too many events in one request (at most "
                        f"{MAX_EVENTS_PER_REQUEST})")
    return doc, True


def parse_json_object(body: bytes, encoding: str | None, limit: int) -> dict[str, Any]:
    """A body that must be one JSON object (payments, consent records)."""
    try:
        doc = orjson.loads(decompress(body, encoding, limit))
    except orjson.JSONDecodeError:
        raise BodyError(400, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BodyError(400, "the body must be a JSON object")
    return doc
