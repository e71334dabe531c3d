"""Client address resolution: proxy headers believed only from trusted peers."""

import pytest

from tracker.events.client_ip import ClientIpResolver


@pytest.fixture
def resolver() -> ClientIpResolver:
    return ClientIpResolver(["10.0.0.0/8", "2001:db8:ffff::/48"])


def test_untrusted_peer_headers_are_ignored(resolver):
    # A client talking to us directly cannot spoof its address with headers.
    assert resolver.resolve("203.0.113.9", "1.2.3.4", "5.6.7.8") == "203.0.113.9"


def test_no_trusted_proxies_means_peer_always():
    resolver = ClientIpResolver([])
    assert resolver.resolve("10.1.1.1", "198.51.100.1", "198.51.100.2") == "10.1.1.1"


def test_trusted_peer_xff_walk_from_right_skips_trusted(resolver):
    xff = "1.1.1.1, 198.51.100.7, 10.0.0.2, 10.0.0.3"
    # 1.1.1.1 is what the client claimed; 198.51.100.7 is the first untrusted hop.
    assert resolver.resolve("10.0.0.1", xff, None) == "198.51.100.7"


def test_spoofed_leftmost_xff_entry_is_not_believed(resolver):
    assert resolver.resolve("10.0.0.1", "6.6.6.6, 198.51.100.7", None) == "198.51.100.7"


def test_invalid_xff_entries_are_skipped(resolver):
    assert resolver.resolve("10.0.0.1", "198.51.100.7, unknown, ,garbage", None) == "198.51.100.7"


def test_all_trusted_gives_leftmost(resolver):
    assert resolver.resolve("10.0.0.1", "10.9.9.9, 10.0.0.2", None) == "10.9.9.9"


def test_x_real_ip_used_when_xff_absent_or_useless(resolver):
    assert resolver.resolve("10.0.0.1", None, "198.51.100.8") == "198.51.100.8"
    assert resolver.resolve("10.0.0.1", "nonsense", "198.51.100.8") == "198.51.100.8"
    assert resolver.resolve("10.0.0.1", None, "nonsense") == "10.0.0.1"


def test_results_are_normalized(resolver):
    assert resolver.resolve("::ffff:203.0.113.9", None, None) == "203.0.113.9"
    assert resolver.resolve("2001:DB8:0:0::1", None, None) == "2001:db8::1"
    assert resolver.resolve("10.0.0.1", "[2001:DB8::5]:443", None) == "2001:db8::5"
    assert resolver.resolve("10.0.0.1", "198.51.100.7:5123", None) == "198.51.100.7"


def test_ipv6_trusted_proxy_and_mapped_peer():
    resolver = ClientIpResolver(["2001:db8:ffff::/48", "192.168.0.0/16"])
    assert resolver.resolve("2001:db8:ffff::1", "198.51.100.7", None) == "198.51.100.7"
    # A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
    assert resolver.resolve("::ffff:192.168.1.1", "198.51.100.7", None) == "198.51.100.7"


def test_non_ip_peer_is_returned_unchanged(resolver):
    assert resolver.resolve("unix-socket", "1.2.3.4", None) == "unix-socket"


def test_bad_cidr_is_a_config_error():
    with pytest.raises(ValueError):
        ClientIpResolver(["not-a-network"])


def test_cache_is_bounded_and_answers_stay_right():
    resolver = ClientIpResolver(["10.0.0.0/8"], cache_entries=4)
    for i in range(50):
        assert resolver.resolve("10.0.0.1", f"198.51.100.{i}", None) == f"198.51.100.{i}"
    assert len(resolver._cache) <= 4
