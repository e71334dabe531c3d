"""The log's helper threads (the Syncer's, the chores') yield the CPU to the
event loop of their worker.

A worker's threads share its core. When the Syncer's thread wakes for an
fdatasync it spends a few milliseconds of CPU submitting the writeback, and
at the same priority the scheduler lets it take the core from the loop for
that long: a half-load run showed the loop waiting 4.3 ms on the run queue
behind it (docs/PERFORMANCE.md, "Session 9"). At a lower priority it runs in
the loop's idle moments; it mostly waits for the disk anyway.
"""

from __future__ import annotations

import os
import threading

# How much nicer a helper thread is than the thread that started it (the
# loop's): a weight of about a tenth of the loop's, not idle priority, so that
# under full load a sync still runs within its interval.
HELPER_NICE_STEP = 10
MAX_NICE = 19


def lower_this_threads_priority() -> None:
    """Make the calling thread HELPER_NICE_STEP nicer than it started (a thread
    inherits its creator's); nothing where threads have no nice value of their
    own (Linux gives each thread one)."""
    try:
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, nice + HELPER_NICE_STEP))
    except (AttributeError, OSError):
        pass
