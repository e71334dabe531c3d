"""The plain-HTTP port when TLS is on: ACME challenges, then a redirect to HTTPS."""

from __future__ import annotations

from typing import Any

from tracker.http import Request
from tracker.tls import FileChallengeStore, HttpsRedirect, challenge_response


class PlainPortApp:
    """Answers HTTP-01 challenges (any worker can: they are files), sends the
    rest to HTTPS, and lets the exempt paths (/health, /ping) through to `app`."""

    def __init__(self, app: Any, redirect: HttpsRedirect,
                 challenges: FileChallengeStore | None):
        self._app = app
        self._redirect = redirect
        self._challenges = challenges

    def handle(self, request: Request) -> Any:
        if self._challenges is not None:
            answer = challenge_response(self._challenges, request.path)
            if answer is not None:
                return answer
        answer = self._redirect.answer(request)
        return answer if answer is not None else self._app.handle(request)
