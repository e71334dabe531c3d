"""What a short link is, what a change to it looks like, and which change wins."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from tracker._fast import uuid7
from tracker.model.tables import REDIRECT_HISTORY

ACTIONS = ("create", "update", "delete")
MAX_URL_CHARS = 2048


class LinkError(ValueError):
    """A link the admin API refuses; the message is for the user."""


def link_key(host: str, path: str) -> str:
    """The one spelling of a link for lookups: lowercase host without a trailing
    dot or port, then the path exactly as given (paths are case-sensitive)."""
    return host.lower().rstrip(".") + path


def _clean_url(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text:
        raise LinkError(f"{what} is required")
    if len(text) > MAX_URL_CHARS:
        raise LinkError(f"{what} is longer than {MAX_URL_CHARS} characters")
    if any(c in text for c in "\\ \t\r\n") or not text.isprintable():
        raise LinkError(f"{what} holds characters a URL cannot carry")
    return text


def parse_urlfrom(text: Any, domains: frozenset[str]) -> tuple[str, str]:
    """`(host, path)` of a short link's own URL, `http(s)://host/slug`, whose host
    must be one of `domains` (lowercase, no trailing dot)."""
    url = _clean_url(text, "urlfrom")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise LinkError("urlfrom is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError("urlfrom must be an http(s) URL: https://host/slug")
    if "@" in parts.netloc or port is not None:
        raise LinkError("urlfrom must not hold user info or a port")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise LinkError("urlfrom must not hold a query or a fragment")
    if len(parts.path) < 2 or parts.path.startswith("//"):
        raise LinkError("urlfrom needs a path after the host: https://host/slug")
    host = parts.hostname.lower().rstrip(".")
    if host not in domains:
        raise LinkError("urlfrom's host is not one of the Domains this tracker serves")
    return host, parts.path


def check_urlto(text: Any) -> str:
    """A link's target: an absolute http(s) URL without user info."""
    url = _clean_url(text, "urlto")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise LinkError("urlto is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError("urlto must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise LinkError("urlto must not hold user info")
    return url


def canonical_urlfrom(host: str, path: str) -> str:
    """How a link's own URL is stored and shown, whatever scheme it was given with."""
    return f"https://{host}{path}"


def change_row(host: str, path: str, action: str, urlto: str | None = None,
               oid: str | None = None) -> dict[str, Any]:
    """A `redirect_history` row (tracker/model/tables.py), as the log carries it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return {"hid": uuid7(), "changed_at": time.time_ns() // 1_000_000,
            "urlfrom": canonical_urlfrom(host, path), "host": host,
            "urlto": None if action == "delete" else urlto,
            "oid": oid, "action": action}


def row_key(row: dict[str, Any]) -> str:
    """The lookup key of a change row (its urlfrom without the scheme)."""
    parts = urlsplit(row["urlfrom"])
    return link_key(row["host"], parts.path)


def is_newer(row: dict[str, Any], than: dict[str, Any] | None) -> bool:
    """The newer of two changes to one link wins: by time, ties by id (time-ordered)."""
    return than is None or (row["changed_at"], row["hid"]) > (than["changed_at"], than["hid"])


def newest_changes(rows: Any, into: dict[str, dict[str, Any]] | None = None
                   ) -> dict[str, dict[str, Any]]:
    """Fold change rows into the newest change per link key (deletes included)."""
    newest = {} if into is None else into
    for given in rows:
        row = {name: given.get(name) for name in REDIRECT_HISTORY.column_names}  # nulls kept
        key = row_key(row)
        if is_newer(row, newest.get(key)):
            newest[key] = row
    return newest


def public_link(row: dict[str, Any]) -> dict[str, Any]:
    """A link as the admin API shows it."""
    return {"urlfrom": row["urlfrom"], "urlto": row["urlto"], "oid": row["oid"],
            "updated_at": row["changed_at"]}
