"""Real TLS handshakes against tracker.http's server, with trustme certificates."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from tests.tls_server import ServerThread, client_context, https_get
from tracker.http import Request, Response
from tracker.tls import CertificateStore, server_ssl_context

NAME = "tracker.test"


class App:
    def handle(self, request: Request) -> Response:
        return Response.json(200, {"path": request.path, "tls": request.tls})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def write_leaf(ca: trustme.CA, directory: Path, *names: str) -> tuple[Path, Path, int]:
    """cert.pem and key.pem for ``names``; returns their paths and the leaf's serial."""
    leaf = ca.issue_cert(*(names or (NAME,)))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    # Replace each file (new inode), as a deploy or a renewal does.
    for path, blob in ((cert_path, b"".join(b.bytes() for b in leaf.cert_chain_pems)),
                       (key_path, leaf.private_key_pem.bytes())):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    serial = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number
    return cert_path, key_path, serial


def serial_of(der: bytes) -> int:
    return x509.load_der_x509_certificate(der).serial_number


def test_https_request_through_the_server(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    cert, key, serial = write_leaf(ca, tmp_path)
    with ServerThread(App(), ssl=server_ssl_context(cert, key)) as server:
        reply = https_get(server.port, NAME, "/hello?x=1", ca_file)
    assert reply.status == 200
    assert reply.body == b'{"path":"/hello","tls":true}'
    assert reply.alpn == "http/1.1"
    assert reply.version in ("TLSv1.2", "TLSv1.3")
    assert serial_of(reply.peer_cert) == serial


def test_certificate_is_verified_against_the_name(ca: trustme.CA, ca_file: Path,
                                                  tmp_path: Path) -> None:
    cert, key, _ = write_leaf(ca, tmp_path)
    with ServerThread(App(), ssl=server_ssl_context(cert, key)) as server, \
            pytest.raises(ssl.SSLCertVerificationError):
        https_get(server.port, "other.test", "/", ca_file)


def test_tls_1_2_is_the_floor(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    cert, key, _ = write_leaf(ca, tmp_path)
    ctx = server_ssl_context(cert, key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    tls12 = client_context(ca_file)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with ServerThread(App(), ssl=ctx) as server:
        reply = https_get(server.port, NAME, "/", context=tls12)
    assert reply.version == "TLSv1.2"
    assert reply.status == 200


def test_key_inside_the_certificate_file(ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    cert, key, serial = write_leaf(ca, tmp_path)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(key.read_bytes() + cert.read_bytes())
    with ServerThread(App(), ssl=server_ssl_context(combined)) as server:
        reply = https_get(server.port, NAME, "/", ca_file)
    assert serial_of(reply.peer_cert) == serial


def test_mismatched_key_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    cert, _, _ = write_leaf(ca, tmp_path)
    other = ca.issue_cert("other.test")
    wrong_key = tmp_path / "wrong.pem"
    other.private_key_pem.write_to_path(str(wrong_key))
    with pytest.raises(ssl.SSLError):
        server_ssl_context(cert, wrong_key)


def test_store_swaps_a_renewed_certificate_without_restart(
        ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    clock = FakeClock()
    cert, key, first = write_leaf(ca, tmp_path)
    store = CertificateStore(cert, key, check_interval=30.0, clock=clock)
    with ServerThread(App(), ssl=store.server_context) as server:
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == first

        _, _, second = write_leaf(ca, tmp_path)
        # Not looked at before the interval: still the first certificate.
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == first
        clock.now += 30.0
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == second
        assert store.reloads == 1

        # Unchanged files: no reload at the next checks.
        clock.now += 30.0
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == second
        assert store.reloads == 1


def test_store_keeps_serving_when_new_files_are_broken(
        ca: trustme.CA, ca_file: Path, tmp_path: Path) -> None:
    cert, key, first = write_leaf(ca, tmp_path)
    store = CertificateStore(cert, key, check_interval=0.0)
    with ServerThread(App(), ssl=store.server_context) as server:
        # A new certificate whose key has not been copied yet.
        leaf = ca.issue_cert(NAME)
        cert.write_bytes(leaf.cert_chain_pems[0].bytes())
        assert store.reload() is False
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == first

        key.unlink()  # a file missing for a moment
        assert store.reload() is False
        assert serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert) == first

        leaf.private_key_pem.write_to_path(str(key))  # the copy completes
        assert store.reload() is True
        new_serial = serial_of(https_get(server.port, NAME, "/", ca_file).peer_cert)
    assert new_serial == x509.load_pem_x509_certificate(
        leaf.cert_chain_pems[0].bytes()).serial_number


def test_store_refuses_unusable_files_at_start(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        CertificateStore(tmp_path / "cert.pem", None)
    with pytest.raises(FileNotFoundError):
        CertificateStore(tmp_path / "missing.pem", None)
