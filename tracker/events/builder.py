"""One tracking event's raw fields plus its request context -> a validated `events` row.

Rules beyond plain type checks (SPEC section 4):
- Aliases: `last`/`ref` -> referrer, `amt` -> revenue, `ts` -> client_ts,
  `utm_*` -> campaign columns. When both a name and its alias are given, the
  name wins.
- `ename` defaults to the event's own `content` field (not one read from the URL).
- `eid`: a valid client UUID is kept (idempotent retries), anything else is
  replaced by a new UUIDv7. `vid`/`sid` given by the client must be UUIDs.
- Campaign columns missing from the event are read from the page `url`; `host`
  is the event's `host`, else the page URL's host, else the Host header.
- `email`, `cell`, `uname` become keyed hashes (`ehash`, `chash`, `uhash`), also
  when found at the top of an explicit `params` object; the clear values are kept
  nowhere. Server-owned inputs (`created_at`, `ip`, the hashes) are ignored.
- Every other unknown field goes into `params`; keys of an explicit `params`
  object win over unknown top-level fields of the same name.
- Cookieless form (config `cookieless`, or per request when consent is missing):
  no cookies; vid and sid are derived from the daily salt, the site (`oid`), the
  stored form of the IP and the User-Agent; client ids (still checked) and
  cookies are not used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tracker._fast import normalize_uuid, uuid7
from tracker.events.campaign import (
    UTM_ALIASES,
    campaign_from_url,
    host_from_url,
    host_without_port,
)
from tracker.events.context import RequestContext
from tracker.events.cookieless import DailySalt, cookieless_ids
from tracker.events.cookies import NO_COOKIES, CookieUpdate, cookie_update
from tracker.events.fields import (
    FieldError,
    to_bool,
    to_count,
    to_float,
    to_object,
    to_str,
    to_time_ms,
    to_uuid,
)
from tracker.events.privacy import KeyedHasher, anonymize_ip
from tracker.events.useragent import UserAgentParser

# Distinct client IPs whose stored form is remembered; past this the cache starts over.
IP_CACHE_ENTRIES = 8192

_STR_COLUMNS = (
    "uid", "oid", "tid", "ename", "etyp", "url", "host", "referrer", "xid", "split",
    "outcome", "currency", "source", "medium", "campaign", "content", "term",
    "tz", "lang", "device", "os", "browser", "country", "region", "city",
)
_STR_ALIASES = {"last": "referrer", "ref": "referrer", **UTM_ALIASES}
# input field -> (hash kind, column); the same names are looked for in `params`.
_PERSONAL = {"email": ("email", "ehash"), "cell": ("cell", "chash"), "uname": ("uname", "uhash")}
# Columns only the server writes; a client's values for them are dropped.
_SERVER_OWNED = ("created_at", "ip", "iphash", "ehash", "chash", "uhash")

_Convert = Callable[[str, Any], Any]
# input field -> (column, converter or None for text, is_alias); a converter
# returning None means "absent".
_FieldTable = dict[str, tuple[str, _Convert | None, bool]]


@dataclass(frozen=True)
class BuilderConfig:
    anonymize_ip: bool
    hasher: KeyedHasher
    cookieless: bool
    daily_salt: DailySalt
    ua_parser: UserAgentParser
    max_field_chars: int = 8192  # per string value
    max_params_bytes: int = 16384  # serialized `params`

    @classmethod
    def from_secret(cls, secret: bytes, *, anonymize_ip: bool = True,
                    cookieless: bool = False, **limits: int) -> BuilderConfig:
        """A config whose hasher and daily salt are both keyed by `secret`."""
        return cls(anonymize_ip=anonymize_ip, hasher=KeyedHasher(secret),
                   cookieless=cookieless, daily_salt=DailySalt(secret),
                   ua_parser=UserAgentParser(), **limits)


def _lenient_eid(name: str, value: Any) -> str | None:
    # A bad client eid is not an error: the event just gets a server id.
    return normalize_uuid(value) if type(value) is str and value else None


def _ignore(name: str, value: Any) -> None:
    return None


def _field_table(config: BuilderConfig) -> _FieldTable:
    max_chars = config.max_field_chars
    hasher = config.hasher

    def bounded(limit: float) -> _Convert:
        def convert(name: str, value: Any) -> float | None:
            number = to_float(name, value)
            if number is not None and not -limit <= number <= limit:
                raise FieldError(f"{name} must be between -{limit:g} and {limit:g}")
            return number
        return convert

    def personal(kind: str) -> _Convert:
        def convert(name: str, value: Any) -> str | None:
            clear = to_str(name, value, max_chars)
            return hasher.hash(kind, clear) if clear.strip() else None
        return convert

    # Text columns carry no converter: build() checks them inline (see to_str).
    table: _FieldTable = {name: (name, None, False) for name in _STR_COLUMNS}
    table.update({alias: (col, None, True) for alias, col in _STR_ALIASES.items()})
    table.update({name: (name, to_float, False) for name in ("score", "revenue")})
    table["amt"] = ("revenue", to_float, True)
    table["lat"] = ("lat", bounded(90), False)
    table["lon"] = ("lon", bounded(180), False)
    table.update({name: (name, to_count, False) for name in ("vp_w", "vp_h", "cflags")})
    table["bot"] = ("bot", to_bool, False)
    table["client_ts"] = ("client_ts", to_time_ms, False)
    table["ts"] = ("client_ts", to_time_ms, True)
    table["eid"] = ("eid", _lenient_eid, False)
    table["vid"] = ("vid", to_uuid, False)
    table["sid"] = ("sid", to_uuid, False)
    table["params"] = ("params", to_object, False)
    table.update({name: (col, personal(kind), False) for name, (kind, col) in _PERSONAL.items()})
    table.update({name: (name, _ignore, False) for name in _SERVER_OWNED})
    return table


def _first_language(accept_language: str) -> str | None:
    """'en-US,en;q=0.9' -> 'en-US' (the browser lists its preferred tag first)."""
    tag = accept_language.partition(",")[0].partition(";")[0].strip()
    return tag if tag and tag != "*" else None


class EventBuilder:
    """Builds `events` rows; holds small per-process caches, so one per worker."""

    def __init__(self, config: BuilderConfig):
        self._config = config
        self._fields = _field_table(config)
        self._ip_cache: dict[str, str | None] = {}

    def build(self, fields: dict[str, Any], ctx: RequestContext,
              cookieless_form: bool | None = None) -> tuple[dict[str, Any], CookieUpdate]:
        """The row (only non-null columns) and the cookies to set. Raises FieldError.

        `cookieless_form` forces (True) or forbids (False) the cookieless form for
        this event; None follows the config.
        """
        config = self._config
        row: dict[str, Any] = {}
        extra: dict[str, Any] | None = None
        table = self._fields
        max_chars = config.max_field_chars
        for key, value in fields.items():
            if value is None:
                continue
            spec = table.get(key)
            if spec is None:
                if type(value) is str and len(value) > max_chars:
                    raise FieldError(f"{key} is longer than {max_chars} characters")
                if extra is None:
                    extra = {}
                extra[key] = value
                continue
            column, convert, is_alias = spec
            if convert is None:  # a text column: the common case, checked inline
                if type(value) is str and len(value) <= max_chars:
                    converted = value
                else:
                    converted = to_str(key, value, max_chars)
            else:
                converted = convert(key, value)
                if converted is None:
                    continue
            if is_alias:
                row.setdefault(column, converted)
            else:
                row[column] = converted

        row["created_at"] = ctx.now_ms
        if "eid" not in row:
            row["eid"] = uuid7()
        if "ename" not in row and "content" in row:
            row["ename"] = row["content"]

        full_ip = ctx.client_ip
        stored_ip = self._stored_ip(full_ip)
        if stored_ip is not None:
            row["ip"] = stored_ip
        row["iphash"] = config.hasher.hash_ip(full_ip)

        if config.cookieless if cookieless_form is None else cookieless_form:
            salt = config.daily_salt.for_time(ctx.now_ms)
            row["vid"], row["sid"] = cookieless_ids(
                salt, row.get("oid", ""), stored_ip or "", ctx.user_agent)
            cookies = NO_COOKIES
        else:
            cookies = self._cookie_ids(row, ctx)

        ua = config.ua_parser.parse(ctx.user_agent)
        if "device" not in row:
            row["device"] = ua.device
        if "os" not in row:
            row["os"] = ua.os
        if "browser" not in row:
            row["browser"] = ua.browser
        if "bot" not in row:
            row["bot"] = ua.bot
        if "lang" not in row and ctx.accept_language:
            lang = _first_language(ctx.accept_language)
            if lang is not None:
                row["lang"] = lang
        if "cflags" not in row and ctx.cookie_consent is not None:
            row["cflags"] = ctx.cookie_consent

        url = row.get("url")
        if url:  # campaign columns the event lacks, from the page URL
            for column, value in campaign_from_url(url).items():
                row.setdefault(column, value)
        if "host" not in row:
            host = (host_from_url(url) if url else None) or host_without_port(ctx.host)
            if host:
                row["host"] = host

        params = self._params(row.get("params"), extra, row)
        if params:
            self._check_params_size(params)
            row["params"] = params
        else:
            row.pop("params", None)
        return row, cookies

    def _stored_ip(self, ip: str) -> str | None:
        """What the `ip` column holds: the /24 or /48 when anonymizing, else the address."""
        if not self._config.anonymize_ip:
            return ip or None
        cache = self._ip_cache
        if ip in cache:
            return cache[ip]
        try:
            stored: str | None = anonymize_ip(ip)
        except ValueError:
            stored = None  # not an IP address: store nothing rather than the raw text
        if len(cache) >= IP_CACHE_ENTRIES:
            cache.clear()
        cache[ip] = stored
        return stored

    @staticmethod
    def _cookie_ids(row: dict[str, Any], ctx: RequestContext) -> CookieUpdate:
        """vid and sid from the event, else the cookies, else new; the cookies to set."""
        cookie_vid = normalize_uuid(ctx.cookie_vid) if ctx.cookie_vid else None
        vid = row.get("vid") or cookie_vid or uuid7()
        row["vid"] = vid
        if "sid" not in row:
            cookie_sid = normalize_uuid(ctx.cookie_sid) if ctx.cookie_sid else None
            row["sid"] = cookie_sid or uuid7()
        # vid is (re)set only when the browser does not already hold it.
        return cookie_update(None if vid == cookie_vid else vid, row["sid"], ctx.tls)

    def _params(self, given: dict[str, Any] | None, extra: dict[str, Any] | None,
                row: dict[str, Any]) -> dict[str, Any] | None:
        """The explicit params object plus unknown fields, with personal data hashed out."""
        params = given
        if given and not _PERSONAL.keys().isdisjoint(given):
            params = dict(given)  # never change the caller's object
            for name in _PERSONAL:
                if name in params:
                    value = params.pop(name)
                    if value is not None:
                        column, to_hash, _ = self._fields[name]
                        digest = to_hash(f"params.{name}", value)
                        if digest is not None:
                            row.setdefault(column, digest)
        if extra:
            if params is given:
                params = dict(given) if given else {}
            for key, value in extra.items():
                params.setdefault(key, value)
        return params

    def _check_params_size(self, params: dict[str, Any]) -> None:
        limit = self._config.max_params_bytes
        try:
            size = len(orjson.dumps(params))
        except orjson.JSONEncodeError:
            raise FieldError("params must hold only JSON values") from None
        if size > limit:
            raise FieldError(f"params is larger than {limit} bytes")
