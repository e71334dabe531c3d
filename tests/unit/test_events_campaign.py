"""UTM parameters and host from the page URL."""

from tracker.events.campaign import campaign_from_url, host_from_url, host_without_port


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
