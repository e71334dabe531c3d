"""HTTP-01 challenge answers: token -> key authorization.

The ACME client puts an answer before asking the CA to validate and removes it
afterwards; the plain-HTTP port serves ``GET /.well-known/acme-challenge/<token>``
with ``challenge_response``. ``ChallengeStore`` lives in one process's memory;
``FileChallengeStore`` keeps one file per token so that every worker process
can answer, whichever one the CA's connection lands on.
"""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path
from typing import Protocol

from tracker.atomicfile import write_atomic
from tracker.http import Response

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
# RFC 8555 8.3: the token is base64url without padding. Checking it keeps a
# file name inside the challenge directory.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def valid_token(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


class Challenges(Protocol):
    """What the ACME client writes and the HTTP port reads."""

    def put(self, token: str, key_authorization: str) -> None: ...

    def get(self, token: str) -> str | None: ...

    def remove(self, token: str) -> None: ...


class ChallengeStore:
    """Answers in this process's memory, safe to share between threads."""

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, token: str, key_authorization: str) -> None:
        if not valid_token(token):
            raise ValueError(f"not an ACME token: {token!r}")
        with self._lock:
            self._answers[token] = key_authorization

    def get(self, token: str) -> str | None:
        with self._lock:
            return self._answers.get(token)

    def remove(self, token: str) -> None:
        with self._lock:
            self._answers.pop(token, None)


class FileChallengeStore:
    """Answers as files ``<directory>/<token>``, readable by any process."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def put(self, token: str, key_authorization: str) -> None:
        if not valid_token(token):
            raise ValueError(f"not an ACME token: {token!r}")
        # Not a secret: the CA fetches it over plain HTTP.
        write_atomic(self.directory / token, key_authorization.encode("ascii"), mode=0o644)

    def get(self, token: str) -> str | None:
        if not valid_token(token):
            return None
        try:
            return (self.directory / token).read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError):
            return None

    def remove(self, token: str) -> None:
        if valid_token(token):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / token).unlink()


def challenge_response(challenges: Challenges, path: str) -> Response | None:
    """The answer to a request for ``path``; None when it is not a challenge path.

    200 ``text/plain`` with the key authorization, or 404 for an unknown token.
    """
    if not path.startswith(CHALLENGE_PREFIX):
        return None
    answer = challenges.get(path[len(CHALLENGE_PREFIX):])
    if answer is None:
        return Response.error(404, "unknown challenge")
    return Response.raw(200, "text/plain", answer.encode("ascii"),
                        [("cache-control", "no-store")])
