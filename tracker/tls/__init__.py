"""TLS for the HTTPS port: contexts, certificate reloads, ACME, HTTP->HTTPS redirects.

Modules: ``context`` (server_ssl_context, CertificateStore: reloads a replaced
certificate per handshake), ``redirect`` (HttpsRedirect for the plain port),
``challenges`` (HTTP-01 answers: ChallengeStore, FileChallengeStore,
challenge_response), ``paths`` (AcmePaths: the layout under
DataDirectory/acme), ``selfsigned`` (the placeholder served until ACME
delivers), ``acme`` (AcmeSettings, ensure_certificate, needs_renewal),
``renewal`` (CertificateRenewer, the loop for the supervisor), ``lock``,
``files``.

Workers need only ``context``, ``redirect``, ``challenges`` and ``paths``,
which do not import the ACME client library; import ``tracker.tls.acme`` and
``tracker.tls.renewal`` where ACME runs.
"""

from tracker.tls.challenges import (
    CHALLENGE_PREFIX,
    ChallengeStore,
    FileChallengeStore,
    challenge_response,
)
from tracker.tls.context import CertificateStore, server_ssl_context
from tracker.tls.paths import AcmePaths
from tracker.tls.redirect import HttpsRedirect

__all__ = [
    "CHALLENGE_PREFIX",
    "AcmePaths",
    "CertificateStore",
    "ChallengeStore",
    "FileChallengeStore",
    "HttpsRedirect",
    "challenge_response",
    "server_ssl_context",
]
