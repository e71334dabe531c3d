"""GeoIP lookups in a MaxMind-format `.mmdb` file (GeoLite2, GeoIP2, DB-IP Lite).

Each worker opens the file itself (read-only memory map, shared by the page
cache between processes). Answers are remembered per address string in a
bounded cache. The file is checked for replacement at most every
`reload_interval` seconds; a new file is opened and swapped in, and a file that
does not open (still being copied, say) keeps the old one in use.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import maxminddb

from tracker.geo.result import GeoResult, result_from_record

log = logging.getLogger(__name__)

# Distinct address strings whose answer is remembered; past this the cache starts over.
DEFAULT_CACHE_ENTRIES = 16384
RELOAD_INTERVAL = 60.0  # seconds between checks of the file for a new version

_MISSING = object()
_Stamp = tuple[int, int, int]  # (inode, size, mtime_ns): any change means a new file


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _open(path: Path) -> maxminddb.Reader:
    # MODE_AUTO: the C extension over a memory map when installed, else pure Python mmap.
    return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)


class GeoIp:
    """Looks up the place of public IP addresses; one per worker process."""

    def __init__(self, path: Path, *, cache_entries: int = DEFAULT_CACHE_ENTRIES,
                 reload_interval: float = RELOAD_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self._path = Path(path)
        self._stamp = _stamp(self._path)  # before opening: a change in between is seen later
        self._reader = _open(self._path)  # errors surface at start-up
        self._cache_entries = cache_entries
        self._reload_interval = reload_interval
        self._clock = clock
        self._next_check = clock() + reload_interval
        self._cache: dict[str, GeoResult | None] = {}

    @property
    def path(self) -> Path:
        return self._path

    @property
    def database_type(self) -> str:
        """The metadata's type, e.g. "GeoLite2-City" or "DBIP-Country-Lite"."""
        return str(self._reader.metadata().database_type)

    def lookup(self, ip: str) -> GeoResult | None:
        """The place of `ip`; None for private, reserved, invalid or unknown addresses."""
        if self._clock() >= self._next_check:
            self._check_for_new_file()
        cache = self._cache
        hit = cache.get(ip, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        result = self._find(ip)
        if len(cache) >= self._cache_entries:
            cache.clear()
        cache[ip] = result
        return result

    def _find(self, ip: str) -> GeoResult | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        # Private, loopback, link-local, shared, documentation and reserved ranges
        # have no place; multicast is "global" to ipaddress but no client's address.
        if not addr.is_global or addr.is_multicast:
            return None
        try:
            record = self._reader.get(addr)
        except ValueError:
            return None  # an IPv6 address asked of an IPv4-only database
        return result_from_record(record)

    def _check_for_new_file(self) -> None:
        self._next_check = self._clock() + self._reload_interval
        try:
            stamp = _stamp(self._path)
        except OSError:
            return  # being replaced right now: keep the open one, look again later
        if stamp == self._stamp:
            return
        try:
            reader = _open(self._path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            log.warning("GeoIP database %s not reloaded: %s", self._path, exc)
            return
        old, self._reader = self._reader, reader
        self._stamp = stamp
        self._cache.clear()
        old.close()
        log.info("GeoIP database %s reloaded (%s)", self._path, self.database_type)

    def close(self) -> None:
        self._reader.close()
        self._cache.clear()

    def __enter__(self) -> GeoIp:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
