"""ACME end to end against pebble, Debian's ACME (RFC 8555) test server.

Pebble validates for real (PEBBLE_VA_ALWAYS_VALID is not set): for HTTP-01 it
resolves the domain through pebble-challtestsrv, used here only as a DNS
server that answers 127.0.0.1 for every name, and fetches
http://<domain>:<httpPort>/.well-known/acme-challenge/<token> from the plain
server the test runs with tracker.http, which answers from the file challenge
store, as the workers will. Pebble's own HTTPS uses a trustme certificate; the
certificates it issues chain to a root fetched from its management API.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import trustme
from cryptography import x509

from tests.integration.harness import free_port
from tests.services import require_pebble
from tests.tls_server import ServerThread, https_get
from tracker.http import Request, Response
from tracker.tls import CertificateStore, FileChallengeStore, HttpsRedirect, challenge_response
from tracker.tls.acme import AcmeError, AcmeSettings, ensure_certificate, needs_renewal
from tracker.tls.challenges import ChallengeStore
from tracker.tls.renewal import CertificateRenewer
from tracker.tls.selfsigned import ensure_placeholder

pytestmark = pytest.mark.integration

DOMAINS = ("tracker.test", "www.tracker.test")
VALIDITY_SECONDS = 3600  # short-lived on purpose: due for renewal at once with 30 days


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    ca_file: Path  # trusts pebble's own HTTPS (ACME API and management)
    root_file: Path  # pebble's issuing root, to verify what it issued
    http_port: int  # where pebble fetches HTTP-01 answers


def _start(args: list[str], log: Path,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _wait_get(url: str, ctx: ssl.SSLContext, procs: list[subprocess.Popen[bytes]],
              logs: list[Path]) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as response:
                return response.read()
        except OSError:
            dead = [p for p in procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                detail = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs)
                raise RuntimeError(f"pebble did not start:\n{detail}") from None
            time.sleep(0.2)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    pebble_bin, challtestsrv_bin = require_pebble()
    work = tmp_path_factory.mktemp("pebble")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
    leaf.private_key_pem.write_to_path(str(work / "key.pem"))
    ca_file = work / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    acme_port, management_port, http_port, dns_port, dns_management_port = (
        free_port() for _ in range(5))
    config = {"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{management_port}",
        "certificate": str(work / "cert.pem"),
        "privateKey": str(work / "key.pem"),
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        "certificateValidityPeriod": VALIDITY_SECONDS,
    }}
    (work / "pebble.json").write_bytes(orjson.dumps(config))
    # Every name resolves to 127.0.0.1 (A) and to nothing for AAAA.
    dns = _start([challtestsrv_bin, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "",
                  "-https01", "", "-tlsalpn01", "",
                  "-management", f"127.0.0.1:{dns_management_port}",
                  "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], work / "challtestsrv.log")
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
           "PEBBLE_AUTHZREUSE": "0"}  # every order is validated afresh
    env.pop("PEBBLE_VA_ALWAYS_VALID", None)
    server = _start([pebble_bin, "-config", str(work / "pebble.json"),
                     "-dnsserver", f"127.0.0.1:{dns_port}"], work / "pebble.log", env)
    procs = [dns, server]
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file))
        logs = [work / "pebble.log", work / "challtestsrv.log"]
        _wait_get(f"https://localhost:{acme_port}/dir", ctx, procs, logs)
        root = _wait_get(f"https://localhost:{management_port}/roots/0", ctx, procs, logs)
        (work / "root.pem").write_bytes(root)
        yield Pebble(f"https://localhost:{acme_port}/dir", ca_file, work / "root.pem", http_port)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class PlainApp:
    """The plain port with TLS on: ACME answers from the files, the rest redirected."""

    def __init__(self, challenges: FileChallengeStore, tls_port: int) -> None:
        self.challenges = challenges
        self.redirect = HttpsRedirect(tls_port)
        self.challenge_requests = 0

    def handle(self, request: Request) -> Response:
        answer = challenge_response(self.challenges, request.path)
        if answer is not None:
            self.challenge_requests += 1
            return answer
        return self.redirect.answer(request) or Response.json(200, {"ok": True})


class TlsApp:
    def handle(self, request: Request) -> Response:
        return Response.json(200, {"tls": request.tls})


def settings_for(pebble: Pebble, data: Path, renew_days: float = 30.0) -> AcmeSettings:
    return AcmeSettings(data, DOMAINS, directory_url=pebble.directory_url,
                        verify=str(pebble.ca_file), renew_days=renew_days, timeout=60)


def serial_of(der_or_path: bytes | Path) -> int:
    if isinstance(der_or_path, Path):
        return x509.load_pem_x509_certificate(der_or_path.read_bytes()).serial_number
    return x509.load_der_x509_certificate(der_or_path).serial_number


def plain_get(port: int, path: str, host: str) -> tuple[int, str | None]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers.get("location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("location")


def test_certificate_obtained_served_and_renewed(pebble: Pebble, tmp_path: Path) -> None:
    settings = settings_for(pebble, tmp_path / "data")
    paths = settings.paths
    challenges = FileChallengeStore(paths.challenges)

    # First start: no certificate yet, so TLS listens with the placeholder.
    assert ensure_placeholder(paths.certificate, DOMAINS)
    placeholder_serial = serial_of(paths.certificate)
    store = CertificateStore(paths.certificate, check_interval=3600)
    with contextlib.ExitStack() as servers:
        tls = servers.enter_context(ServerThread(TlsApp(), ssl=store.server_context))
        plain_app = PlainApp(challenges, tls.port)
        plain = servers.enter_context(ServerThread(plain_app, port=pebble.http_port))
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(tls.port, DOMAINS[0], "/", pebble.root_file)

        renewer = CertificateRenewer(settings, challenges, on_renewed=store.reload)
        assert renewer.run_once() == 12 * 3600, renewer.last_error
        first = serial_of(paths.certificate)
        assert first != placeholder_serial
        assert plain_app.challenge_requests >= len(DOMAINS)  # validated for real
        assert list(paths.challenges.iterdir()) == []  # answers removed after the order

        for name in DOMAINS:
            reply = https_get(tls.port, name, "/", pebble.root_file)
            assert reply.status == 200 and reply.body == b'{"tls":true}'
            assert serial_of(reply.peer_cert) == first

        # The plain port redirects, except the ACME path.
        assert plain_get(plain.port, "/p?q=1", "tracker.test:80") == (
            301, f"https://tracker.test:{tls.port}/p?q=1")
        assert plain_get(plain.port, "/.well-known/acme-challenge/none", "tracker.test")[0] == 404

        # Files: the account key and the certificate (with its key) are private.
        assert stat.S_IMODE(paths.account_key.stat().st_mode) == 0o600
        assert stat.S_IMODE(paths.certificate.stat().st_mode) == 0o600
        account_key = paths.account_key.read_bytes()

        # Pebble issued for VALIDITY_SECONDS: not due with a 10-minute margin,
        # due with the usual 30 days.
        assert not needs_renewal(paths.certificate, days=600 / 86400, domains=DOMAINS)
        assert not ensure_certificate(settings_for(pebble, tmp_path / "data", 600 / 86400),
                                      challenges)
        assert serial_of(paths.certificate) == first
        assert needs_renewal(paths.certificate, days=30, domains=DOMAINS)

        assert renewer.run_once() == 12 * 3600, renewer.last_error
        second = serial_of(paths.certificate)
        assert second != first
        assert paths.account_key.read_bytes() == account_key  # same account, found again
        reply = https_get(tls.port, DOMAINS[1], "/", pebble.root_file)
        assert serial_of(reply.peer_cert) == second  # swapped without a restart
        assert plain_app.challenge_requests >= 2 * len(DOMAINS)


def test_failed_validation_is_reported_and_keeps_the_old_certificate(
        pebble: Pebble, tmp_path: Path) -> None:
    settings = settings_for(pebble, tmp_path / "data")
    paths = settings.paths
    ensure_placeholder(paths.certificate, DOMAINS)
    before = paths.certificate.read_bytes()
    served = FileChallengeStore(paths.challenges)
    unserved = ChallengeStore()  # answers that never reach the plain port
    with ServerThread(PlainApp(served, 8443), port=pebble.http_port):
        with pytest.raises(AcmeError, match="validation failed") as failed:
            ensure_certificate(settings, unserved)
        # Pebble's own words: it fetched the token from the plain port and got 404.
        message = str(failed.value)
        assert "returned 404" in message
        tokens = re.findall(r"/\.well-known/acme-challenge/([A-Za-z0-9_-]+)", message)
        assert len(tokens) == len(DOMAINS)
        assert [unserved.get(t) for t in tokens] == [None, None]  # removed after the order
        renewer = CertificateRenewer(settings, unserved, retry_min=30)
        assert renewer.run_once() == 30
        assert renewer.failures == 1
    assert paths.certificate.read_bytes() == before
