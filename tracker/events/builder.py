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

from tracker._fast import EventCore, normalize_uuid
from tracker.events.campaign import UTM_ALIASES, campaign_from_url
from tracker.events.context import RequestContext
from tracker.events.cookieless import DailySalt, cookieless_ids
from tracker.events.cookies import COOKIE_PARTS, CookieUpdate
from tracker.events.fields import (
    FieldError,
    check_params_size,
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
# Page URLs whose campaign fields are remembered: a site's pages repeat.
CAMPAIGN_CACHE_ENTRIES = 4096

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


class BuilderRules:
    """What EventBuilder adds to EventCore: the configuration and the hooks
    for what is rare or configured (see tracker/_fast/eventcore_py.py).

    A mixin, so that tests can put it on either EventCore (compiled or twin).
    """

    def __init__(self, config: BuilderConfig):
        self._fields = _field_table(config)
        super().__init__(self._fields, config.max_field_chars,  # type: ignore[call-arg]
                         config.cookieless, COOKIE_PARTS, CookieUpdate,
                         to_float=to_float, to_count=to_count, to_object=to_object,
                         max_params_bytes=config.max_params_bytes,
                         personal_names=tuple(_PERSONAL))
        self._config = config
        self._ip_cache: dict[str, str | None] = {}
        self._campaign_cache: dict[str, dict[str, str]] = {}

    @property
    def field_names(self) -> tuple[str, ...]:
        """The input names the field table knows (the very key objects of its dict)."""
        return tuple(self._fields)

    @property
    def plain_fields(self) -> dict[str, tuple[str, str, bool]]:
        """{input name: (column, kind, is_alias)} of the fields taken as given
        once their type is checked: kind "text" (a text column), "count",
        "float" or "object" (params). The compiled single-event path reads only these."""
        kinds = {None: "text", to_count: "count", to_object: "object", to_float: "float"}
        return {name: (column, kinds[convert], alias)
                for name, (column, convert, alias) in self._fields.items() if convert in kinds}

    @property
    def personal_names(self) -> tuple[str, ...]:
        """Fields that become keyed hashes, also when found inside `params`."""
        return tuple(_PERSONAL)

    @property
    def max_params_bytes(self) -> int:
        return self._config.max_params_bytes

    @property
    def cookieless(self) -> bool:
        """Whether every event takes the cookieless form (config `cookieless`)."""
        return self._config.cookieless

    @property
    def max_field_chars(self) -> int:
        return self._config.max_field_chars

    # EventCore hooks

    def _text(self, name: str, value: Any) -> str:
        return to_str(name, value, self._config.max_field_chars)

    def _new_client(self, ip: str, user_agent: str,
                    accept_language: str) -> tuple[str | None, str, tuple[tuple[str, Any], ...]]:
        config = self._config
        ua = config.ua_parser.parse(user_agent)
        defaults: list[tuple[str, Any]] = [
            ("device", ua.device), ("os", ua.os), ("browser", ua.browser), ("bot", ua.bot)]
        lang = _first_language(accept_language) if accept_language else None
        if lang is not None:
            defaults.append(("lang", lang))
        return self._stored_ip(ip), config.hasher.hash_ip(ip), tuple(defaults)

    def _cookieless_ids(self, row: dict[str, Any], ctx: RequestContext,
                        stored_ip: str | None) -> None:
        salt = self._config.daily_salt.for_time(ctx.now_ms)
        row["vid"], row["sid"] = cookieless_ids(
            salt, row.get("oid", ""), stored_ip or "", ctx.user_agent)

    def _campaign(self, url: str) -> dict[str, str]:
        """campaign_from_url, remembered per URL (the core only reads the dict)."""
        cache = self._campaign_cache
        found = cache.get(url)
        if found is None:
            found = campaign_from_url(url)
            if len(cache) >= CAMPAIGN_CACHE_ENTRIES:
                cache.clear()
            cache[url] = found
        return found

    def _finish_params(self, row: dict[str, Any], extra: dict[str, Any] | None) -> None:
        params = self._params(row.get("params"), extra, row)
        if params:
            check_params_size(params, self._config.max_params_bytes)
            row["params"] = params
        else:
            row.pop("params", None)

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


class EventBuilder(BuilderRules, EventCore):
    """Builds `events` rows; holds small per-process caches, so one per worker.

    `build(fields, ctx, cookieless_form=None, with_cookies=True) -> (row, CookieUpdate)` is
    EventCore's (tracker._fast: compiled, with a pure-Python twin).
    """
