"""The real servers tests talk to: where they are, and skip-or-fail when absent.

`scripts/services/clickhouse.sh start` runs the private ClickHouse server the
tests expect (`make test` does it). When it is not reachable a test is skipped
with the reason, except under TRACKER_REQUIRE_SERVICES=1 (CI), where it fails.

    server = require_clickhouse()              # in a fixture or a test
    with temporary_database(server) as db:     # tracker_test_<random>, dropped after
        ...

    pebble, challtestsrv = require_pebble()    # Debian's ACME test server, apt-installed
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


@dataclass(frozen=True, slots=True)
class ClickHouseServer:
    host: str
    port: int  # native protocol (clickhouse-driver)
    http_port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/"

    def query(self, sql: str, timeout: float = 30.0) -> str:
        """Run one statement over HTTP; the response body as text."""
        request = urllib.request.Request(self.http_url, data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:  # the server's message, not just "500"
            detail = exc.read().decode(errors="replace").strip()
            raise RuntimeError(f"ClickHouse refused {sql[:200]!r}: {detail[:500]}") from exc


def clickhouse_server() -> ClickHouseServer:
    """The server named by TRACKER_CLICKHOUSE_* (defaults: the private test server)."""
    env = os.environ
    return ClickHouseServer(
        host=env.get("TRACKER_CLICKHOUSE_HOST", "127.0.0.1"),
        port=int(env.get("TRACKER_CLICKHOUSE_PORT", "19000")),
        http_port=int(env.get("TRACKER_CLICKHOUSE_HTTP_PORT", "18123")),
    )


def clickhouse_available(server: ClickHouseServer | None = None) -> bool:
    """True when the server answers `SELECT 1` over HTTP."""
    server = server or clickhouse_server()
    try:
        return server.query("SELECT 1", timeout=2.0).strip() == "1"
    except (OSError, urllib.error.URLError):
        return False


def require_clickhouse() -> ClickHouseServer:
    """The server, or skip the test (fail under TRACKER_REQUIRE_SERVICES=1)."""
    server = clickhouse_server()
    if clickhouse_available(server):
        return server
    reason = (
        f"ClickHouse is not reachable at {server.http_url}; "
        "start it with `bash scripts/services/clickhouse.sh start`"
    )
    if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def temporary_database(server: ClickHouseServer) -> Iterator[str]:
    """A fresh database `tracker_test_<random>`, dropped afterwards."""
    name = f"tracker_test_{secrets.token_hex(6)}"
    server.query(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        server.query(f"DROP DATABASE IF EXISTS {name}")


def require_pebble() -> tuple[str, str]:
    """Paths of `pebble` and `pebble-challtestsrv` (Debian's package `pebble`, an
    ACME test server). Installed with apt-get when missing and running as root;
    otherwise the test is skipped (failed under TRACKER_REQUIRE_SERVICES=1)."""
    can_install = os.geteuid() == 0 and shutil.which("apt-get")
    if (not shutil.which("pebble") and can_install
            and _apt_get("install", "-y", "-q", "pebble") != 0):
        _apt_get("update", "-q")  # the package list may be stale
        _apt_get("install", "-y", "-q", "pebble")
    pebble, challtestsrv = shutil.which("pebble"), shutil.which("pebble-challtestsrv")
    if pebble and challtestsrv:
        return pebble, challtestsrv
    reason = "pebble is not installed; install it with `apt-get install -y pebble` (as root)"
    if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _apt_get(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=600, check=False).returncode
