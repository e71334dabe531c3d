"""Campaign fields (UTM) and the site host, read from the page URL.

Event fields win: the URL only fills campaign columns the event did not give.
"""

from __future__ import annotations

from urllib.parse import unquote

# The host rules live with the compiled event core, which uses them per event.
from tracker._fast import decode_query, host_from_url, host_without_port

__all__ = ["UTM_ALIASES", "campaign_from_url", "host_from_url", "host_without_port"]

# Query/field name -> events column.
UTM_ALIASES = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "campaign",
    "utm_content": "content",
    "utm_term": "term",
}


def campaign_from_url(url: str) -> dict[str, str]:
    """The UTM parameters in `url`'s query as {column: value}; the first of a repeated one.

    Decodes like urllib.parse.parse_qsl (pairs need "=" and a value; "+" is a
    space, %XX escapes), but only the pairs whose name can be a UTM one.
    """
    if "utm_" not in url:  # most page URLs: skip the parsing
        return {}
    query = url.partition("#")[0].partition("?")[2]
    fast = _campaign_by_form_decoder(query)
    if fast is not None:
        return fast
    out: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if not value:
            continue
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="replace")
        column = UTM_ALIASES.get(name)
        if column is not None and column not in out:
            if "%" in value or "+" in value:  # a non-empty value never decodes to ""
                value = unquote(value.replace("+", " "), errors="replace")
            out[column] = value
    return out


def _campaign_by_form_decoder(query: str) -> dict[str, str] | None:
    """campaign_from_url's answer from the compiled form decoder, or None where it
    could differ: the decoder refuses unusual queries (odd names, bad escapes or
    UTF-8) and, unlike parse_qsl, keeps a first pair that has no value."""
    try:
        pairs = decode_query(query)
    except ValueError:
        return None
    out: dict[str, str] = {}
    for name, column in UTM_ALIASES.items():
        value = pairs.get(name)
        if value == "":
            return None
        if value is not None:
            out[column] = value
    return out
