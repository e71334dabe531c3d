"""One movable deadline per connection, cheap to push forward (pure-Python
twin of deadline.pyx)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A timer that fires this close to its deadline counts as expired, so a loop
# clock with millisecond resolution cannot make us re-arm in a tight circle.
_SLACK = 0.001


class Deadline:
    """Calls ``on_expire(reason)`` once the current deadline passes.

    ``set`` only stores a time when the armed timer fires earlier than the
    new deadline would anyway: the timer re-arms itself for the remainder when
    it fires. Pushing a keep-alive deadline after every response therefore
    costs a clock read, not a timer cancel and create.
    """

    __slots__ = ("_handle", "_handle_at", "_loop", "_on_expire", "_reason", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_expire: Callable[[str], None]) -> None:
        self._loop = loop
        self._on_expire = on_expire
        self._when = 0.0  # 0.0: no deadline
        self._reason = ""
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = 0.0

    @property
    def reason(self) -> str:
        """Why the current deadline was set; "" when none is."""
        return self._reason if self._when else ""

    def set(self, seconds: float, reason: str) -> None:
        when = self._loop.time() + seconds
        self._when = when
        self._reason = reason
        handle = self._handle
        if handle is None or self._handle_at > when:
            if handle is not None:
                handle.cancel()
            self._arm(when)

    def clear(self) -> None:
        # The armed timer stays; when it fires it finds nothing to do.
        self._when = 0.0

    def cancel(self) -> None:
        self._when = 0.0
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, when: float) -> None:
        self._handle_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        when = self._when
        if not when:
            return
        if when - self._loop.time() > _SLACK:
            self._arm(when)
            return
        self._when = 0.0
        self._on_expire(self._reason)
