"""The ACME side that needs no CA: renewal decisions, files, the lock, the retry loop."""

from __future__ import annotations

import datetime
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from tracker.tls import AcmePaths, ChallengeStore, server_ssl_context
from tracker.tls.acme import (
    AcmeSettings,
    ensure_certificate,
    load_or_create_account_key,
    needs_renewal,
)
from tracker.tls.lock import try_lock
from tracker.tls.renewal import CertificateRenewer
from tracker.tls.selfsigned import ensure_placeholder

UTC = datetime.UTC


def issue(ca: trustme.CA, path: Path, *names: str, days: float = 90) -> Path:
    now = datetime.datetime.now(UTC)
    leaf = ca.issue_cert(*names, not_before=now - datetime.timedelta(hours=1),
                         not_after=now + datetime.timedelta(days=days))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(leaf.private_key_pem.bytes()
                     + b"".join(b.bytes() for b in leaf.cert_chain_pems))
    return path


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_needs_renewal_by_expiry(ca: trustme.CA, tmp_path: Path) -> None:
    cert = issue(ca, tmp_path / "c.pem", "a.test", days=90)
    assert needs_renewal(cert, days=30) is False
    assert needs_renewal(cert, days=100) is True
    later = datetime.datetime.now(UTC) + datetime.timedelta(days=70)
    assert needs_renewal(cert, days=30, now=later) is True


def test_needs_renewal_when_domains_changed(ca: trustme.CA, tmp_path: Path) -> None:
    cert = issue(ca, tmp_path / "c.pem", "a.test", "b.test")
    assert needs_renewal(cert, 30, ["a.test", "B.test"]) is False
    assert needs_renewal(cert, 30, ["a.test"]) is False
    assert needs_renewal(cert, 30, ["a.test", "c.test"]) is True


def test_needs_renewal_when_missing_or_unreadable(tmp_path: Path) -> None:
    assert needs_renewal(tmp_path / "missing.pem") is True
    (tmp_path / "junk.pem").write_text("junk")
    assert needs_renewal(tmp_path / "junk.pem") is True


def test_placeholder_is_written_once_and_asks_for_renewal(tmp_path: Path) -> None:
    paths = AcmePaths(tmp_path, ("t.example.com", "u.example.com"))
    assert ensure_placeholder(paths.certificate, paths.domains) is True
    first = paths.certificate.read_bytes()
    assert stat.S_IMODE(paths.certificate.stat().st_mode) == 0o600
    assert ensure_placeholder(paths.certificate, paths.domains) is False
    assert paths.certificate.read_bytes() == first
    # Usable as it is (key inside), and short-lived so that ACME replaces it.
    server_ssl_context(paths.certificate)
    assert needs_renewal(paths.certificate, 30, paths.domains) is True
    cert = x509.load_pem_x509_certificate(first)
    assert cert.not_valid_after_utc - datetime.datetime.now(UTC) < datetime.timedelta(days=2)
    assert list(tmp_path.rglob(".*")) == []  # nothing left aside


def test_placeholder_never_replaces_a_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    cert = issue(ca, tmp_path / "acme" / "a.test" / "certificate.pem", "a.test")
    before = cert.read_bytes()
    assert ensure_placeholder(cert, ["a.test"]) is False
    assert cert.read_bytes() == before


def test_account_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = AcmePaths(tmp_path, ("a.test",)).account_key
    key = load_or_create_account_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_account_key(path)
    assert again.private_numbers() == key.private_numbers()


def test_lock_is_exclusive(tmp_path: Path) -> None:
    lock = tmp_path / "acme" / "lock"
    with try_lock(lock) as first:
        assert first is True
        with try_lock(lock) as second:
            assert second is False
    with try_lock(lock) as third:
        assert third is True


def test_ensure_certificate_does_nothing_while_valid(ca: trustme.CA, tmp_path: Path,
                                                     closed_port: int) -> None:
    # The directory URL leads nowhere: any ACME call would raise.
    settings = AcmeSettings(tmp_path, ("a.test",),
                            directory_url=f"http://127.0.0.1:{closed_port}/dir")
    issue(ca, settings.paths.certificate, "a.test", days=90)
    assert ensure_certificate(settings, ChallengeStore()) is False
    with pytest.raises(OSError):
        ensure_certificate(settings, ChallengeStore(), force=True)


def test_ensure_certificate_skips_while_another_process_holds_the_lock(
        tmp_path: Path, closed_port: int) -> None:
    settings = AcmeSettings(tmp_path, ("a.test",),
                            directory_url=f"http://127.0.0.1:{closed_port}/dir")
    with try_lock(settings.paths.lock):
        assert ensure_certificate(settings, ChallengeStore()) is False
    assert not settings.paths.certificate.exists()


def test_renewer_backs_off_and_does_not_raise(tmp_path: Path, closed_port: int) -> None:
    settings = AcmeSettings(tmp_path, ("a.test",),
                            directory_url=f"http://127.0.0.1:{closed_port}/dir")
    renewer = CertificateRenewer(settings, ChallengeStore(), check_interval=3600,
                                 retry_min=10, retry_max=35)
    assert [renewer.run_once() for _ in range(4)] == [10, 20, 35, 35]
    assert renewer.failures == 4
    assert renewer.last_error is not None and "ConnectionError" in renewer.last_error


def test_renewer_with_a_valid_certificate_waits_the_check_interval(
        ca: trustme.CA, tmp_path: Path, closed_port: int) -> None:
    settings = AcmeSettings(tmp_path, ("a.test",),
                            directory_url=f"http://127.0.0.1:{closed_port}/dir")
    issue(ca, settings.paths.certificate, "a.test", days=90)
    renewed: list[bool] = []
    renewer = CertificateRenewer(settings, ChallengeStore(), check_interval=3600,
                                 on_renewed=lambda: renewed.append(True))
    assert renewer.run_once() == 3600
    assert renewer.failures == 0
    assert renewed == []


def test_renewer_thread_stops(tmp_path: Path, closed_port: int) -> None:
    settings = AcmeSettings(tmp_path, ("a.test",),
                            directory_url=f"http://127.0.0.1:{closed_port}/dir")
    renewer = CertificateRenewer(settings, ChallengeStore(), initial_delay=0.0,
                                 retry_min=3600)
    thread = renewer.start()
    renewer.stop(timeout=10)
    assert not thread.is_alive()
