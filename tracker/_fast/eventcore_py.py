"""The per-event work of EventBuilder.build (pure-Python twin of eventcore.pyx).

`EventCore` turns one event's raw fields into an `events` row: the field table
(names, aliases, converters), the server-side columns (created_at, eid, ip,
iphash), the ids and their cookies, the client's defaults (device, os,
browser, bot, lang), and the page URL's campaign columns and host. The rules
are those of tracker/events/builder.py, which subclasses this class and
supplies what is rare or configured (see "Hooks"), so that this module needs
nothing from tracker.events (which imports tracker._fast). The host rules are
here (`host_from_url`, `host_without_port`); tracker.events.campaign exports them.

Hooks, methods of the subclass:
- `_text(name, value) -> str`: a text field that is not a short `str`
  (raises FieldError when it cannot be one);
- `_new_client(ip, user_agent, accept_language) -> (stored_ip, iphash, defaults)`,
  remembered here per distinct triple; `defaults` are (column, value) pairs an
  event's own fields override;
- `_cookieless_ids(row, ctx, stored_ip)`: sets row["vid"] and row["sid"];
- `_campaign(url) -> dict`;
- `_finish_params(row, extra)`: the `params` column from an explicit object
  and unknown fields (called only when there is either).
"""

from __future__ import annotations

from typing import Any

from tracker._fast.ids_py import normalize_uuid, uuid7

# Distinct (IP, User-Agent, Accept-Language) whose columns are remembered.
CLIENT_CACHE_ENTRIES = 8192


class EventCore:
    """The field table is {input name: (column, converter or None for text, is_alias)};
    a converter returning None means "absent". The cookies: `cookie_parts`
    maps the TLS flag to the text (before vid, after vid, before sid, after
    sid) of the Set-Cookie values; `cookie_type` is the tuple type that holds
    the headers (tracker.events.cookies)."""

    def __init__(self, table: dict[str, tuple[str, Any, bool]], max_chars: int,
                 cookieless: bool, cookie_parts: dict[bool, tuple[str, str, str, str]],
                 cookie_type: type[tuple[Any, ...]], *, to_float: Any = None,
                 to_count: Any = None, to_object: Any = None, max_params_bytes: int = 0,
                 personal_names: tuple[str, ...] = ()) -> None:
        """The keyword arguments only make the compiled core faster, with the
        same outcome: it converts the common inputs of `to_float`, `to_count`
        and `to_object` inline, and keeps a small `params` object without the
        `personal_names` as given, without calling `_finish_params`, when its
        JSON surely fits `max_params_bytes`. The twin always takes the general way."""
        self._table = table
        self._max_chars = max_chars
        self._cookieless = cookieless
        self._cookie_parts = cookie_parts
        self._cookie_type = cookie_type
        self._no_cookies = tuple.__new__(cookie_type, ((),))
        self._clients: dict[tuple[str, str, str], tuple[Any, ...]] = {}

    def build(self, fields: dict[str, Any], ctx: Any, cookieless_form: bool | None = None,
              with_cookies: bool = True) -> tuple[dict[str, Any], Any]:
        """The row (only non-null columns) and the cookies to set. Raises FieldError.

        `cookieless_form` forces (True) or forbids (False) the cookieless form for
        this event; None follows the config. `with_cookies=False` leaves the
        Set-Cookie lines out (no cookies to set), for a caller that has them
        already: the later events of a batch.
        """
        row: dict[str, Any] = {}
        extra: dict[str, Any] | None = None
        table = self._table
        max_chars = self._max_chars
        for key, value in fields.items():
            if value is None:
                continue
            spec = table.get(key)
            if spec is None:
                if type(value) is str and len(value) > max_chars:
                    self._text(key, value)  # raises: too long
                if extra is None:
                    extra = {}
                extra[key] = value
                continue
            column, convert, is_alias = spec
            if convert is None:  # a text column: the common case, checked inline
                if type(value) is str and len(value) <= max_chars:
                    converted = value
                else:
                    converted = self._text(key, value)
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

        key = (ctx.client_ip, ctx.user_agent, ctx.accept_language)
        client = self._clients.get(key)
        if client is None:
            client = self._new_client(*key)
            if len(self._clients) >= CLIENT_CACHE_ENTRIES:
                self._clients.clear()
            self._clients[key] = client
        stored_ip, iphash, defaults = client
        if stored_ip is not None:
            row["ip"] = stored_ip
        row["iphash"] = iphash

        if self._cookieless if cookieless_form is None else cookieless_form:
            self._cookieless_ids(row, ctx, stored_ip)
            cookies = self._no_cookies
        else:
            cookie_vid = normalize_uuid(ctx.cookie_vid) if ctx.cookie_vid else None
            vid = row.get("vid") or cookie_vid or uuid7()
            row["vid"] = vid
            if "sid" not in row:
                cookie_sid = normalize_uuid(ctx.cookie_sid) if ctx.cookie_sid else None
                row["sid"] = cookie_sid or uuid7()
            if with_cookies:
                vid_before, vid_after, sid_before, sid_after = self._cookie_parts[ctx.tls]
                headers: tuple[tuple[str, str], ...] = (
                    ("Set-Cookie", sid_before + row["sid"] + sid_after),)
                if vid != cookie_vid:  # vid is (re)set only when the browser does not hold it
                    headers = (("Set-Cookie", vid_before + vid + vid_after), *headers)
                cookies = tuple.__new__(self._cookie_type, (headers,))
            else:
                cookies = self._no_cookies

        for column, value in defaults:
            if column not in row:
                row[column] = value
        if "cflags" not in row and ctx.cookie_consent is not None:
            row["cflags"] = ctx.cookie_consent

        url = row.get("url")
        if url and "utm_" in url:  # campaign columns the event lacks, from the page URL
            for column, value in self._campaign(url).items():
                row.setdefault(column, value)
        if "host" not in row:
            host = (host_from_url(url) if url else None) or host_without_port(ctx.host)
            if host:
                row["host"] = host

        if extra is not None or "params" in row:
            self._finish_params(row, extra)
        return row, cookies

    def build_batch(self, items: list[Any], ctx: Any, place: dict[str, Any] | None,
                    gated: Any, carry: Any, error_type: type[Exception]
                    ) -> tuple[list[dict[str, Any]], list[str | None],
                               list[dict[str, Any]], tuple[tuple[str, str], ...]]:
        """Every event of one request: (rows, eids, rejected, cookies).

        `eids` has one entry per item: its eid, or None when it was rejected;
        `rejected` lists {"index", "error"} for items that are not objects or
        raise `error_type`. `cookies` are the Set-Cookie lines of the first event
        that had any; `carry(ctx, item, row)` then gives the context the later
        events share, and they are built without Set-Cookie lines. An item that
        names a "country", or every item when `place` is given, is built by
        `gated(item, ctx, place, with_cookies)` (placing and the consent gate
        live outside this class).
        """
        rows: list[dict[str, Any]] = []
        eids: list[str | None] = []
        rejected: list[dict[str, Any]] = []
        cookies: tuple[tuple[str, str], ...] = ()
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rejected.append({"index": index, "error": "an event must be a JSON object"})
                eids.append(None)
                continue
            try:
                if place or "country" in item:
                    row, update = gated(item, ctx, place, not cookies)
                else:
                    row, update = self.build(item, ctx, None, not cookies)
            except error_type as e:
                rejected.append({"index": index, "error": str(e)})
                eids.append(None)
                continue
            rows.append(row)
            eids.append(row["eid"])
            if not cookies and update.headers:
                cookies = update.headers
                ctx = carry(ctx, item, row)
        return rows, eids, rejected, cookies

    # Hooks: see the module docstring.

    def _text(self, name: str, value: Any) -> str:
        raise NotImplementedError

    def _new_client(self, ip: str, user_agent: str, accept_language: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def _cookieless_ids(self, row: dict[str, Any], ctx: Any, stored_ip: str | None) -> None:
        raise NotImplementedError

    def _campaign(self, url: str) -> dict[str, str]:
        raise NotImplementedError

    def _finish_params(self, row: dict[str, Any], extra: dict[str, Any] | None) -> None:
        raise NotImplementedError


def host_from_url(url: str) -> str | None:
    """The host of an absolute URL, case kept, without user info or port; None if none."""
    scheme_end = url.find("://")
    if scheme_end >= 0:
        rest = url[scheme_end + 3:]
    elif url.startswith("//"):
        rest = url[2:]
    else:
        return None
    for stop in "/?#":
        rest = rest.partition(stop)[0]
    return host_without_port(rest.rpartition("@")[2]) or None


def host_without_port(authority: str) -> str:
    """'example.com:8080' -> 'example.com', '[2001:db8::1]:80' -> '2001:db8::1'."""
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    return authority.partition(":")[0]
