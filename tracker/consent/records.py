"""`POST /tr/v1/ppi/agree` bodies -> validated `agreements` rows (the consent history).

Rules:
- `vid` must be a UUID: from the body, else the `vid` cookie; one of them is required.
- `cflags` is required: an integer >= 0 (decimal text accepted, as from a form).
- `aid`: a valid client UUID is kept (idempotent retries), anything else is
  replaced by a new UUIDv7. `created_at` is server time.
- `uid`, `oid`, `url`, `lang`, `country`, `region` are text; `lang` defaults to
  the first Accept-Language tag. `country` and `region` come from GeoIP when it
  knows them, else from the body (SPEC 4: "GeoIP, else the declared values").
- `ip` is the client address anonymized per `AnonymizeIP` (never the raw address
  then; an unparsable one is not stored at all), `iphash` its keyed hash.
- `email`, `cell`, `uname` are never kept in clear: their keyed hashes go into
  `params` as `ehash`, `chash`, `uhash`. Server-owned fields (`created_at`,
  `ip`, `iphash`) are ignored. Every other unknown field goes into `params`;
  keys of an explicit `params` object win.
"""

from __future__ import annotations

from typing import Any

from tracker._fast import normalize_uuid, uuid7
from tracker.events.context import RequestContext
from tracker.events.fields import (
    FieldError,
    check_params_size,
    to_count,
    to_object,
    to_str,
    to_uuid,
)
from tracker.events.privacy import KeyedHasher
from tracker.events.privacy import anonymize_ip as anonymized
from tracker.geo import GeoIp

MAX_FIELD_CHARS = 8192
MAX_PARAMS_BYTES = 16384

_TEXT = ("uid", "oid", "url", "lang", "country", "region")
# input field -> (hash kind, key in params)
_PERSONAL = {"email": ("email", "ehash"), "cell": ("cell", "chash"), "uname": ("uname", "uhash")}
_SERVER_OWNED = frozenset(("created_at", "ip", "iphash"))
_HANDLED = frozenset(("aid", "vid", "cflags", "params", *_TEXT))


def _first_language(accept_language: str) -> str | None:
    """'en-US,en;q=0.9' -> 'en-US' (the browser lists its preferred tag first)."""
    tag = accept_language.partition(",")[0].partition(";")[0].strip()
    return tag if tag and tag != "*" else None


def _stored_ip(ip: str, anonymize: bool) -> str | None:
    if not anonymize:
        return ip or None
    try:
        return anonymized(ip)
    except ValueError:
        return None  # not an IP address: store nothing rather than the raw text


def _vid(body: dict[str, Any], ctx: RequestContext) -> str:
    value = body.get("vid")
    vid = to_uuid("vid", value) if value is not None else None
    if vid is None and ctx.cookie_vid:
        vid = normalize_uuid(ctx.cookie_vid)
    if vid is None:
        raise FieldError("vid is required: the visitor's UUID, in the body or the vid cookie")
    return vid


def _cflags(body: dict[str, Any]) -> int:
    value = body.get("cflags")
    cflags = to_count("cflags", value) if value is not None else None
    if cflags is None:
        raise FieldError("cflags is required: an integer >= 0 (1 necessary, 2 preferences,"
                         " 4 analytics, 8 marketing)")
    return cflags


def _params(body: dict[str, Any], hasher: KeyedHasher, max_chars: int,
            max_bytes: int) -> dict[str, Any] | None:
    given = body.get("params")
    params: dict[str, Any] = dict(to_object("params", given)) if given is not None else {}
    for key, value in body.items():
        if key in _HANDLED or key in _SERVER_OWNED or value is None:
            continue
        if key in _PERSONAL:
            continue  # hashed below
        if type(value) is str and len(value) > max_chars:
            raise FieldError(f"{key} is longer than {max_chars} characters")
        params.setdefault(key, value)
    for name, (kind, key) in _PERSONAL.items():
        for source in (body.get(name), params.pop(name, None)):
            if source is None:
                continue
            clear = to_str(name, source, max_chars)
            if clear.strip():
                params.setdefault(key, hasher.hash(kind, clear))
    if not params:
        return None
    check_params_size(params, max_bytes)
    return params


def build_agreement(body: dict[str, Any], ctx: RequestContext, hasher: KeyedHasher,
                    anonymize_ip: bool, geo: GeoIp | None, *,
                    max_field_chars: int = MAX_FIELD_CHARS,
                    max_params_bytes: int = MAX_PARAMS_BYTES) -> dict[str, Any]:
    """The `agreements` row (only non-null columns) for one consent choice.

    Raises FieldError with the reason to send back (a 400).
    """
    if type(body) is not dict:
        raise FieldError("the body must be a JSON object")
    aid = body.get("aid")
    row: dict[str, Any] = {
        "aid": (normalize_uuid(aid) if type(aid) is str and aid else None) or uuid7(),
        "created_at": ctx.now_ms,
        "vid": _vid(body, ctx),
        "cflags": _cflags(body),
    }
    for name in _TEXT:
        value = body.get(name)
        if value is not None:
            row[name] = to_str(name, value, max_field_chars)

    place = geo.lookup(ctx.client_ip) if geo is not None and ctx.client_ip else None
    if place is not None:
        for name, value in (("country", place.country), ("region", place.region)):
            if value is not None:
                row[name] = value
    if "lang" not in row and ctx.accept_language:
        lang = _first_language(ctx.accept_language)
        if lang is not None:
            row["lang"] = lang

    stored_ip = _stored_ip(ctx.client_ip, anonymize_ip)
    if stored_ip is not None:
        row["ip"] = stored_ip
    if ctx.client_ip:
        row["iphash"] = hasher.hash_ip(ctx.client_ip)

    params = _params(body, hasher, max_field_chars, max_params_bytes)
    if params is not None:
        row["params"] = params
    return row
