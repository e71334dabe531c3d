"""Process plumbing shared by the worker and shipper processes."""

from __future__ import annotations

import ctypes
import logging
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1


def setup_child(name: str, log_level: str) -> None:
    """Make a child process follow its supervisor.

    Ctrl-C reaches the whole process group; only the supervisor reacts to it,
    so that it can stop the workers before the shipper. SIGHUP is ignored
    unless the process installs its own use for it. If the supervisor dies
    without cleaning up, the kernel sends the child SIGTERM.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGHUP means "reload the certificate" to a worker serving TLS (which sets
    # its handler later); it must never kill a child that has none yet.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass
    raise_open_files_limit()
    setup_logging(log_level, name)


def raise_open_files_limit() -> None:
    """Every connection is a file descriptor: use the whole hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def setup_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
