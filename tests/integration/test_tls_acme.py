"""ACME end to end against pebble, Debian's ACME (RFC 8555) test server.

Pebble validates for real (PEBBLE_VA_ALWAYS_VALID is not set): for HTTP-01 it
resolves the domain through pebble-challtestsrv, used here only as a DNS
server that answers 127.0.0.1 for every name, and fetches
http://<domain>:<httpPort>/.well-known/acme-challenge/<token> from the plain
server the test runs with tracker.http, which answers from the file challenge
store, as the workers will. Pebble's own HTTPS uses a trustme certificate; the
certificates it issues chain to a root fetched from its management API.

The last test runs `tracker run` itself against a second pebble issuing 90-day
certificates (the first one's 1-hour certificates are always due for renewal,
so a restart would rightly order again).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import ssl
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import trustme
from cryptography import x509

from tests.integration.harness import TrackerProcess, free_port
from tests.services import require_pebble
from tests.tls_server import ServerThread, https_get
from tracker.http import Request, Response
from tracker.tls import (
    AcmePaths,
    CertificateStore,
    FileChallengeStore,
    HttpsRedirect,
    challenge_response,
)
from tracker.tls.acme import AcmeError, AcmeSettings, ensure_certificate, needs_renewal
from tracker.tls.challenges import ChallengeStore
from tracker.tls.renewal import CertificateRenewer
from tracker.tls.selfsigned import ensure_placeholder

pytestmark = pytest.mark.integration

DOMAINS = ("tracker.test", "www.tracker.test")
VALIDITY_SECONDS = 3600  # short-lived on purpose: due for renewal at once with 30 days
ACME_DOMAIN = "tracker.test"
ORDER_LOG_LINE = "POST /order-plz"  # pebble logs each request
NOT_DUE_LOG_LINE = "not due for renewal"
RELOADED = re.compile(r"worker-(\d+) INFO tracker\.tls\.context: TLS certificate \S+ reloaded")


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    ca_file: Path  # trusts pebble's own HTTPS (ACME API and management)
    root_file: Path  # pebble's issuing root, to verify what it issued
    http_port: int  # where pebble fetches HTTP-01 answers
    log: Path  # what pebble did, one line per request and event


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


@contextlib.contextmanager
def running_pebble(work: Path, validity_seconds: int) -> Iterator[Pebble]:
    """Pebble and its DNS server, issuing certificates valid for ``validity_seconds``."""
    pebble_bin, challtestsrv_bin = require_pebble()
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
        "certificateValidityPeriod": validity_seconds,
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
        yield Pebble(f"https://localhost:{acme_port}/dir", ca_file, work / "root.pem",
                     http_port, work / "pebble.log")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble"), VALIDITY_SECONDS) as server:
        yield server


@pytest.fixture(scope="module")
def pebble_90_days(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """Issues Let's Encrypt's lifetime: not due for renewal when `tracker run` restarts."""
    with running_pebble(tmp_path_factory.mktemp("pebble90"), 90 * 86400) as server:
        yield server


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


# --- `tracker run` itself: supervisor's renewer, workers' TLS and plain ports ---

def tls_request(port: int, server_name: str, method: str, path: str, root_file: Path,
                body: bytes | None = None) -> tuple[int, bytes, bytes]:
    """(status, body, DER of the leaf) of one HTTPS request to 127.0.0.1:``port``,
    verified for ``server_name`` (SNI and Host) against ``root_file``."""
    ctx = ssl.create_default_context(cafile=str(root_file))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        conn = http.client.HTTPConnection(server_name, port, timeout=10)
        conn.sock = tls  # already connected: the name is not resolved
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), tls.getpeercert(binary_form=True) or b""


def served_serial(port: int, server_name: str) -> int:
    """The serial of the certificate the TLS port presents, trusted or not."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        return serial_of(tls.getpeercert(binary_form=True) or b"")


def wait_for_workers_to_switch(port: int, tracker: TrackerProcess, workers: int,
                               timeout: float = 120.0) -> None:
    """Connect until every worker has logged loading a replaced certificate.

    A worker looks at the file at most every 30 s, at a handshake, so connections
    are what make each one look; which worker takes one is the kernel's choice.
    """
    deadline = time.monotonic() + timeout
    while len(set(RELOADED.findall(tracker.log()))) < workers:
        if time.monotonic() > deadline:
            raise AssertionError(f"workers did not switch certificates in {timeout}s:\n"
                                 f"{tracker.log()[-3000:]}")
        served_serial(port, ACME_DOMAIN)
        time.sleep(0.3)


def orders_seen(pebble: Pebble) -> int:
    return pebble.log.read_text(errors="replace").count(ORDER_LOG_LINE)


def wait_for_log(tracker: TrackerProcess, text: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while tracker.log().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged {count} times:\n{tracker.log()[-3000:]}")
        time.sleep(0.2)


def test_tracker_run_obtains_serves_and_caches_the_certificate(
        pebble_90_days: Pebble, tracker_factory: Callable[..., TrackerProcess],
        tmp_path: Path) -> None:
    pebble = pebble_90_days
    data = tmp_path / "data"
    tls_port = free_port()

    def tracker_run() -> TrackerProcess:
        tracker = tracker_factory(
            data, Workers=2, LogLevel="info",
            ProxyPort=f"127.0.0.1:{pebble.http_port}",  # where pebble validates HTTP-01
            ProxyPortTLS=f"127.0.0.1:{tls_port}",
            LetsEncryptDomains=[ACME_DOMAIN], LetsEncryptDirectory=pebble.directory_url,
            # The ACME client is `requests`: this is how it trusts pebble's HTTPS.
            env={"REQUESTS_CA_BUNDLE": str(pebble.ca_file)})
        tracker.port = pebble.http_port  # the harness picked a free port; ours is fixed
        return tracker.start()

    paths = AcmePaths(data, (ACME_DOMAIN,))
    orders_before = orders_seen(pebble)
    tracker = tracker_run()
    # The workers listen with the placeholder until the supervisor's order lands.
    placeholder = served_serial(tls_port, ACME_DOMAIN)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_request(tls_port, ACME_DOMAIN, "GET", "/ping", pebble.root_file)

    wait_for_workers_to_switch(tls_port, tracker, workers=2)
    issued = serial_of(paths.certificate)  # cached under DataDirectory
    assert issued != placeholder
    assert stat.S_IMODE(paths.certificate.stat().st_mode) == 0o600
    assert orders_seen(pebble) == orders_before + 1
    # Validated for real, through the plain port; the answer was removed afterwards.
    assert (f"http://{ACME_DOMAIN}:{pebble.http_port}/.well-known/acme-challenge/"
            in pebble.log.read_text(errors="replace"))
    assert list(paths.challenges.iterdir()) == []
    for _ in range(6):  # new connections, whichever worker takes them: pebble's certificate
        status, _, der = tls_request(tls_port, ACME_DOMAIN, "GET", "/ping", pebble.root_file)
        assert (status, serial_of(der)) == (200, issued)

    # Tracking over HTTPS.
    status, body, _ = tls_request(tls_port, ACME_DOMAIN, "POST", "/tr/v1/tr/", pebble.root_file,
                                  body=b'{"ename":"over_tls"}')
    assert 200 <= status < 300, body

    # The plain port: ACME answers from the files, everything else to HTTPS.
    (paths.challenges / "tok-en_1").write_text("tok-en_1.thumbprint")
    status, _, answer = tracker.request("GET", "/.well-known/acme-challenge/tok-en_1",
                                        headers={"Host": ACME_DOMAIN})
    assert (status, answer) == (200, b"tok-en_1.thumbprint")
    (paths.challenges / "tok-en_1").unlink()
    assert tracker.request("GET", "/.well-known/acme-challenge/tok-en_1",
                           headers={"Host": ACME_DOMAIN})[0] == 404
    assert plain_get(pebble.http_port, "/tr/v1/tr/ename/x?a=1", ACME_DOMAIN) == (
        301, f"https://{ACME_DOMAIN}:{tls_port}/tr/v1/tr/ename/x?a=1")
    status, headers, _ = tracker.request("POST", "/tr/v1/tr/", body=b'{"ename":"plain"}',
                                         headers={"Host": ACME_DOMAIN})
    assert (status, headers["location"]) == (308, f"https://{ACME_DOMAIN}:{tls_port}/tr/v1/tr/")
    assert tracker.stop() == 0
    assert tracker.query("SELECT count(*) FROM events WHERE ename = 'over_tls'") == [(1,)]
    assert tracker.query("SELECT count(*) FROM events WHERE ename = 'plain'") == [(0,)]

    # Restart: the cached certificate is served at once, and not ordered again.
    checks_before = tracker.log().count(NOT_DUE_LOG_LINE)
    tracker = tracker_run()
    status, _, der = tls_request(tls_port, ACME_DOMAIN, "GET", "/ping", pebble.root_file)
    assert (status, serial_of(der)) == (200, issued)
    wait_for_log(tracker, NOT_DUE_LOG_LINE, checks_before + 1)  # the renewer has looked
    assert serial_of(paths.certificate) == issued
    assert orders_seen(pebble) == orders_before + 1
    assert tracker.stop() == 0
