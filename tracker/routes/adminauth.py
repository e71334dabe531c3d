"""The admin API's check: `Authorization: Bearer <token>` against `AdminTokens` (SHA-256 digests).

Tokens never travel in URLs, and the config holds only their digests. The
presented token is hashed and compared with every digest in constant time, so
neither the answer's timing nor an early exit tells how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac

from tracker.http import Request, Response

CHALLENGE = ("WWW-Authenticate", 'Bearer realm="tracker admin"')


class AdminAuth:
    def __init__(self, digests: tuple[str, ...]):
        self._digests = tuple(bytes.fromhex(d) for d in digests)

    def allows(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        matched = False
        for digest in self._digests:  # every digest, always: no early exit
            matched |= hmac.compare_digest(presented, digest)
        return matched and scheme.lower() == "bearer" and bool(token.strip())

    def refusal(self, request: Request) -> Response | None:
        """None when the request carries a valid admin token, else the 401 to send."""
        if self.allows(request):
            return None
        return Response.error(401, "a valid admin bearer token is required", [CHALLENGE])
