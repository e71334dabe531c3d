"""Which address the client really has, believing proxy headers only from trusted peers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Distinct address strings remembered; past this the cache starts over (cheap bound
# against floods of made-up X-Forwarded-For values).
DEFAULT_CACHE_ENTRIES = 4096


def _strip_port(text: str) -> str:
    """'[2001:db8::1]:443' -> '2001:db8::1', '203.0.113.7:5000' -> '203.0.113.7'."""
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:
        return text.partition(":")[0]
    return text


class ClientIpResolver:
    """Resolves the client address of a request.

    `X-Forwarded-For` and `X-Real-IP` are believed only when the socket peer is
    inside one of `trusted_proxies` (CIDRs). X-Forwarded-For is walked from the
    right, skipping trusted proxies and unparsable entries; the first untrusted
    address is the client. If every entry is trusted, the leftmost one is the
    client. X-Real-IP is used only when X-Forwarded-For gives nothing. Results
    are normalized text (IPv4-mapped IPv6 becomes plain IPv4).
    """

    def __init__(self, trusted_proxies: Iterable[str],
                 cache_entries: int = DEFAULT_CACHE_ENTRIES):
        # A bad CIDR is a configuration error: let ValueError surface at start-up.
        self._networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(cidr.strip(), strict=False) for cidr in trusted_proxies
        )
        self._cache_entries = cache_entries
        # raw text -> (normalized address or None when invalid, trusted?)
        self._cache: dict[str, tuple[str | None, bool]] = {}

    def resolve(self, peer_ip: str, x_forwarded_for: str | None,
                x_real_ip: str | None) -> str:
        """The client address; `peer_ip` is the socket peer, the headers as received."""
        hit = self._cache.get(peer_ip)  # the common case inline: a known peer
        peer, peer_trusted = hit if hit is not None else self._lookup(peer_ip)
        if peer is None:
            return peer_ip  # not an IP (a Unix socket, say): nothing to believe
        if not peer_trusted:
            return peer
        if x_forwarded_for:
            leftmost = None
            for part in reversed(x_forwarded_for.split(",")):
                addr, trusted = self._lookup(part)
                if addr is None:
                    continue
                if not trusted:
                    return addr
                leftmost = addr
            if leftmost is not None:
                return leftmost
        if x_real_ip:
            addr, _ = self._lookup(x_real_ip)
            if addr is not None:
                return addr
        return peer

    def _lookup(self, raw: str) -> tuple[str | None, bool]:
        hit = self._cache.get(raw)
        if hit is None:
            hit = self._classify(raw)
            if len(self._cache) >= self._cache_entries:
                self._cache.clear()
            self._cache[raw] = hit
        return hit

    def _classify(self, raw: str) -> tuple[str | None, bool]:
        try:
            addr = ipaddress.ip_address(_strip_port(raw.strip()))
        except ValueError:
            return None, False
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        # `in` is False across IP versions, so mixed lists are safe.
        trusted = any(addr in net for net in self._networks)
        return str(addr), trusted
