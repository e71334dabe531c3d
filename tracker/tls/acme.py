"""Obtaining and renewing the certificate for ``LetsEncryptDomains`` (ACME, HTTP-01).

The protocol is certbot's ``acme`` library; this module decides the rest:
- One account per DataDirectory: an ECDSA P-256 key made on first use and kept
  in ``acme/account.key`` (0600). The account itself is found again from the
  key (newAccount answers "exists" with its URL), so nothing else is stored.
- One certificate names every domain, with a fresh P-256 key per issuance,
  stored as key + full chain in one file (``AcmePaths.certificate``) replaced
  atomically, so a reader never sees a new chain with an old key.
- Challenges are answered through a ``Challenges`` store (the file store, so
  that every worker can answer) and removed when the order is done.
- Only one process runs ACME at a time (flock on ``acme/lock``); the others
  skip their turn.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tracker.atomicfile import write_atomic
from tracker.tls.challenges import Challenges
from tracker.tls.lock import try_lock
from tracker.tls.paths import AcmePaths

log = logging.getLogger(__name__)

LETSENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
USER_AGENT = "tracker-acme"


@dataclass(frozen=True, slots=True)
class AcmeSettings:
    """What an ACME run needs.

    ``verify`` is passed to ``requests``: True for the system CAs, or the path
    of a CA bundle for a private ACME server (the tests' pebble).
    """

    data_directory: Path
    domains: tuple[str, ...]
    directory_url: str = LETSENCRYPT_DIRECTORY
    email: str | None = None
    verify: bool | str = True
    renew_days: float = 30.0
    timeout: float = 120.0  # seconds for validation and issuance

    @property
    def paths(self) -> AcmePaths:
        return AcmePaths(self.data_directory, self.domains)


class AcmeError(Exception):
    """The CA refused or failed the order; the message says why."""


def needs_renewal(cert_path: Path, days: float = 30.0, domains: Sequence[str] = (),
                  now: datetime.datetime | None = None) -> bool:
    """True when the certificate at ``cert_path`` should be (re)issued.

    That is: missing or unreadable, expiring within ``days``, or not naming
    every one of ``domains`` (the configured list changed).
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return True
    now = now or datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc - now <= datetime.timedelta(days=days):
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return bool(domains)
    names = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    return not {d.lower() for d in domains} <= names


def ensure_certificate(settings: AcmeSettings, store: Challenges, *, force: bool = False) -> bool:
    """Obtain a certificate when there is none or it needs renewal; True if one was stored.

    False also when another process holds the ACME lock (it is doing the work).
    Raises ``AcmeError`` (or a network error) when the CA does not deliver.
    """
    paths = settings.paths
    with try_lock(paths.lock) as locked:
        if not locked:
            log.info("ACME: another process is renewing; skipping")
            return False
        # Checked under the lock: the previous holder may have just renewed.
        if not force and not needs_renewal(paths.certificate, settings.renew_days,
                                           settings.domains):
            # Said once per check (every 12 h): the operator sees the cache was used.
            log.info("ACME: certificate for %s not due for renewal", ", ".join(settings.domains))
            return False
        obtain_certificate(settings, store)
        return True


def obtain_certificate(settings: AcmeSettings, store: Challenges) -> None:
    """Run one ACME order for ``settings.domains`` and store the certificate.

    Call it under the ACME lock (``ensure_certificate`` does).
    """
    paths = settings.paths
    account_jwk = jose.JWKEC(key=load_or_create_account_key(paths.account_key))
    # verify_ssl goes to requests' ``verify``, which also takes a CA bundle path.
    net = client.ClientNetwork(account_jwk, alg=jose.ES256,
                               verify_ssl=settings.verify,  # type: ignore[arg-type]
                               user_agent=USER_AGENT, timeout=int(settings.timeout))
    acme = client.ClientV2(client.ClientV2.get_directory(settings.directory_url, net), net)
    _register(acme, settings.email)

    cert_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = cert_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    order = acme.new_order(crypto_util.make_csr(key_pem, list(settings.domains)))
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=settings.timeout)
    tokens: list[str] = []
    try:
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA reused an earlier validation
            challb = _http01(authz)
            response, key_authorization = challb.chall.response_and_validation(account_jwk)
            token = challb.chall.encode("token")
            store.put(token, key_authorization)
            tokens.append(token)
            acme.answer_challenge(challb, response)
        try:
            order = acme.poll_and_finalize(order, deadline)
        except errors.ValidationError as exc:
            raise AcmeError(f"validation failed: {_problems(exc)}") from exc
    finally:
        for token in tokens:
            store.remove(token)
    if not order.fullchain_pem:
        raise AcmeError("the CA finished the order without a certificate")
    write_atomic(paths.certificate, key_pem + order.fullchain_pem.encode("ascii"), mode=0o600)
    log.info("ACME: certificate for %s stored in %s", ", ".join(settings.domains),
             paths.certificate)


def load_or_create_account_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The account key at ``path``, made (0600) on first use."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        key = ec.generate_private_key(ec.SECP256R1())
        write_atomic(path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), mode=0o600)
        log.info("ACME: new account key in %s", path)
        return key
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AcmeError(f"{path} is not an ECDSA key")
    return key


def _register(acme: client.ClientV2, email: str | None) -> None:
    registration = messages.NewRegistration.from_data(email=email,
                                                      terms_of_service_agreed=True)
    try:
        acme.new_account(registration)
    except errors.ConflictError as exc:  # the key already has an account: use it
        acme.net.account = messages.RegistrationResource(uri=exc.location,
                                                         body=messages.Registration())


def _http01(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, challenges.HTTP01):
            return challb
    raise AcmeError(f"the CA offers no http-01 challenge for {authz.body.identifier.value}")


def _problems(exc: errors.ValidationError) -> str:
    found = []
    for authz in exc.failed_authzrs:
        for challb in authz.body.challenges:
            if challb.error is not None:
                found.append(f"{authz.body.identifier.value}: {challb.error}")
    return "; ".join(found) or "no detail from the CA"
