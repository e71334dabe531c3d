"""The delivery path: tail every worker's log and deliver its rows to each sink.

Per sink: batches per table (`batching`), retries behind a circuit breaker
(`breaker`), dead letters (`deadletter`), a durable cursor (`cursor`), all
driven by one thread (`runner`). `Shipper` runs the sinks, publishes their
state and retires the segments every sink has consumed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker.shipper.batching import STRATEGIES, Batcher, BatchPolicy, default_policies
from tracker.shipper.breaker import Breaker
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.deadletter import DeadLetters, deadletter_path

if TYPE_CHECKING:
    from tracker.shipper.runner import SinkRunner
    from tracker.shipper.shipper import Shipper

__all__ = [
    "STRATEGIES",
    "BatchPolicy",
    "Batcher",
    "Breaker",
    "CursorStore",
    "DeadLetters",
    "Shipper",
    "SinkRunner",
    "cursor_path",
    "deadletter_path",
    "default_policies",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use: every worker imports the config, hence `batching`, and
    # must not pay for the runner's imports (pyarrow, the column buffers).
    if name == "Shipper":
        from tracker.shipper.shipper import Shipper

        return Shipper
    if name == "SinkRunner":
        from tracker.shipper.runner import SinkRunner

        return SinkRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
