"""A short-lived self-signed certificate to listen with until ACME delivers one.

With ``LetsEncryptDomains`` and no certificate yet, the HTTPS port still has to
start (the CA validates through the plain port the same processes serve), so
it starts with this placeholder. It expires within a day, so
``needs_renewal`` asks for a real one at once, and the ``CertificateStore``
swaps the real one in when it lands at the same path.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tracker.atomicfile import write_atomic


def self_signed_pem(names: Sequence[str], days: float = 1.0) -> bytes:
    """Private key + self-signed certificate for ``names``, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def ensure_placeholder(cert_path: Path, names: Sequence[str]) -> bool:
    """Write a placeholder at ``cert_path`` unless a certificate is there; True if written.

    Never replaces a file, even one that lands while this runs: the placeholder
    is written aside and hard-linked into place, which fails if the name exists.
    """
    if cert_path.exists():
        return False
    aside = cert_path.with_name(f".{cert_path.name}.{os.getpid()}.placeholder")
    write_atomic(aside, self_signed_pem(names), mode=0o600)  # holds the private key
    try:
        os.link(aside, cert_path)
    except FileExistsError:
        return False
    finally:
        aside.unlink()
    return True
