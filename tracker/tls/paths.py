"""Where ACME state lives under DataDirectory.

Kept apart from ``tracker.tls.acme`` so that workers can find the certificate
and the challenge files without importing the ACME client library.

    DataDirectory/acme/
        account.key            account private key, PEM, 0600, created once
        lock                   flock'ed by the one process running ACME
        challenges/<token>     HTTP-01 key authorizations being validated
        <first domain>/certificate.pem
                               private key + full chain (leaf first), 0600,
                               replaced atomically on renewal
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AcmePaths:
    data_directory: Path
    domains: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.domains:
            raise ValueError("ACME needs at least one domain")

    @property
    def root(self) -> Path:
        return self.data_directory / "acme"

    @property
    def account_key(self) -> Path:
        return self.root / "account.key"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def challenges(self) -> Path:
        return self.root / "challenges"

    @property
    def certificate(self) -> Path:
        """One certificate names every domain; its directory is named by the first."""
        return self.root / self.domains[0].lower() / "certificate.pem"
