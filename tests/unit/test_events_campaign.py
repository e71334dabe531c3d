"""UTM parameters and host from the page URL."""

from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.events.campaign import (
    UTM_ALIASES,
    campaign_from_url,
    host_from_url,
    host_without_port,
)


def test_utm_from_url_query():
    url = ("https://shop.example/p?id=1&utm_source=News&utm_medium=Email"
           "&utm_campaign=Spring%20Sale&utm_content=Top&utm_term=Red+Shoes#frag")
    assert campaign_from_url(url) == {
        "source": "News", "medium": "Email", "campaign": "Spring Sale",
        "content": "Top", "term": "Red Shoes",
    }


def test_url_without_utm_or_query():
    assert campaign_from_url("https://example.com/a?b=c") == {}
    assert campaign_from_url("https://example.com/utm_source") == {}


def test_utm_in_fragment_is_not_query():
    assert campaign_from_url("https://example.com/#?utm_source=x") == {}


def test_first_of_repeated_parameter_wins():
    assert campaign_from_url("https://e.com/?utm_source=a&utm_source=b") == {"source": "a"}


def test_host_from_url_keeps_case_drops_port_and_userinfo():
    assert host_from_url("https://user:pw@Shop.Example.COM:8443/a?b#c") == "Shop.Example.COM"
    assert host_from_url("//cdn.example/x") == "cdn.example"
    assert host_from_url("http://[2001:db8::1]:8080/") == "2001:db8::1"
    assert host_from_url("/relative/path") is None
    assert host_from_url("https:///nohost") is None


def test_host_without_port():
    assert host_without_port("tracker.example:8080") == "tracker.example"
    assert host_without_port("[::1]:80") == "::1"
    assert host_without_port("plain") == "plain"


def test_pairs_without_a_value_are_skipped_like_parse_qsl():
    assert campaign_from_url("https://e.com/?utm_source&utm_source=b") == {"source": "b"}
    assert campaign_from_url("https://e.com/?utm_source=&utm_source=c") == {"source": "c"}
    assert campaign_from_url("https://e.com/?x%zz=1&utm_term=a+b%21") == {"term": "a b!"}
    assert campaign_from_url("https://e.com/?utm_source=%FF") == {"source": "\ufffd"}


_PARTS = ["utm_source", "utm_medium", "utm_term", "utm%5Fsource", "utm+x", "=", "&", "%",
          "%41", "+", "\xe9", "%C3%A9", "%ZZ", "%FF", "#", "?", ";", "x.y-z", "utm_source="]


def _reference(url: str) -> dict[str, str]:
    if "utm_" not in url:
        return {}
    out: dict[str, str] = {}
    for key, value in parse_qsl(url.partition("#")[0].partition("?")[2]):
        column = UTM_ALIASES.get(key)
        if column is not None and value and column not in out:
            out[column] = value
    return out


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PARTS), max_size=14).map("".join))
def test_campaign_agrees_with_parse_qsl(query):
    url = "https://x.example/p?" + query
    assert campaign_from_url(url) == _reference(url)
