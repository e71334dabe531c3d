"""Campaign fields (UTM) and the site host, read from the page URL.

Event fields win: the URL only fills campaign columns the event did not give.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

# Query/field name -> events column.
UTM_ALIASES = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "campaign",
    "utm_content": "content",
    "utm_term": "term",
}


def campaign_from_url(url: str) -> dict[str, str]:
    """The UTM parameters in `url`'s query as {column: value}; the first of a repeated one."""
    if "utm_" not in url:  # most page URLs: skip the parsing
        return {}
    query = url.partition("#")[0].partition("?")[2]
    out: dict[str, str] = {}
    for key, value in parse_qsl(query):
        column = UTM_ALIASES.get(key)
        if column is not None and value and column not in out:
            out[column] = value
    return out


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
