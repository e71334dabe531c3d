"""IP anonymization, keyed hashes of personal data, and the hash secret file."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from tracker.atomicfile import fsync_directory

SECRET_BYTES = 32
# Distinct IPs whose hash is remembered; past this the cache starts over.
DEFAULT_CACHE_ENTRIES = 8192


def anonymize_ip(ip: str) -> str:
    """IPv4 truncated to its /24 ("a.b.c.0"), IPv6 to its /48; IPv4-mapped IPv6 as IPv4.

    Raises ValueError when `ip` is not an IP address.
    """
    addr = ipaddress.ip_address(ip)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network((addr, prefix), strict=False).network_address)


def _digits_and_plus(phone: str) -> str:
    phone = phone.strip()
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "+" + digits if phone.startswith("+") else digits


# How each kind of value is normalized before hashing, so that spelling
# variants of the same person hash the same.
_NORMALIZE = {
    "email": lambda v: v.strip().lower(),
    "cell": _digits_and_plus,
    "uname": str.strip,
}


class KeyedHasher:
    """HMAC-SHA256 of personal values under the installation's secret.

    `hash(kind, value)` is hex HMAC over `kind + ":" + normalized value`; the kind
    keeps an email and a user name with the same text apart.
    """

    def __init__(self, secret: bytes, cache_entries: int = DEFAULT_CACHE_ENTRIES):
        if len(secret) < 16:
            raise ValueError("the hash secret must be at least 16 bytes")
        self._secret = secret
        self._cache_entries = cache_entries
        self._ip_cache: dict[str, str] = {}

    def hash(self, kind: str, value: str) -> str:
        normalize = _NORMALIZE.get(kind)
        if normalize is not None:
            value = normalize(value)
        return hmac.digest(self._secret, f"{kind}:{value}".encode(), "sha256").hex()

    def hash_ip(self, ip: str) -> str:
        """`hash("ip", ip)`, remembered per distinct address (IPs repeat a lot)."""
        digest = self._ip_cache.get(ip)
        if digest is None:
            digest = self.hash("ip", ip)
            if len(self._ip_cache) >= self._cache_entries:
                self._ip_cache.clear()
            self._ip_cache[ip] = digest
        return digest


def load_or_create_secret(path: Path) -> bytes:
    """The secret stored hex in `path`, created once with 32 random bytes (mode 0600).

    Creation is atomic: the content is written to a private temporary file and
    hard-linked into place, which fails if the file already exists. Processes
    that race all end up reading the one file that won.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES).hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            os.unlink(tmp)
        fsync_directory(path.parent)  # the secret must survive a power cut: hashes depend on it
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        # Never replace it silently: a new secret would change every stored hash.
        raise ValueError(f"{path} does not hold a hex secret of at least 16 bytes")
    return secret
