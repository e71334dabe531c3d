"""The movable per-connection deadline."""

from __future__ import annotations

import asyncio

from tracker.http.deadline import Deadline

from .http_fake import run_async


async def wait_for(condition: object, limit: int = 200) -> None:
    for _ in range(limit):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)


@run_async
async def test_fires_once_with_reason() -> None:
    fired: list[str] = []
    deadline = Deadline(asyncio.get_running_loop(), fired.append)
    deadline.set(0.01, "idle")
    assert deadline.reason == "idle"
    await wait_for(lambda: fired)
    await asyncio.sleep(0.03)
    assert fired == ["idle"]
    assert deadline.reason == ""


@run_async
async def test_pushed_deadline_fires_for_the_latest_reason_only() -> None:
    fired: list[str] = []
    deadline = Deadline(asyncio.get_running_loop(), fired.append)
    deadline.set(0.02, "first")
    deadline.set(0.06, "second")  # later: the armed timer re-arms itself
    await wait_for(lambda: fired)
    assert fired == ["second"]


@run_async
async def test_earlier_deadline_replaces_a_later_timer() -> None:
    fired: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = Deadline(loop, fired.append)
    deadline.set(60, "idle")
    deadline.set(0.01, "header")
    await wait_for(lambda: fired)
    assert fired == ["header"]


@run_async
async def test_clear_and_cancel_prevent_firing() -> None:
    fired: list[str] = []
    loop = asyncio.get_running_loop()
    cleared = Deadline(loop, fired.append)
    cleared.set(0.01, "a")
    cleared.clear()
    cancelled = Deadline(loop, fired.append)
    cancelled.set(0.01, "b")
    cancelled.cancel()
    probe = Deadline(loop, fired.append)
    probe.set(0.05, "probe")
    await wait_for(lambda: fired)
    assert fired == ["probe"]
