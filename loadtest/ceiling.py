"""What being a tracker costs the kernel: the bare server against the bare server
that also sends the tracker's answer and writes a log record per request
(`bare_logged_server.py`), alternating, pinned like `make loadtest`.

    .venv/bin/python loadtest/ceiling.py [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from run import HERE, PYTHON, SERVER_CPU, free_port, scenario, wait_port


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=HERE.parent) as tmp:
        commands = {
            "bare": [str(HERE / "bare_server.py")],
            "bare + answer + log": [str(HERE / "bare_logged_server.py")],
        }
        servers = {}
        try:
            for name, command in commands.items():
                port = free_port()
                extra = [str(Path(tmp) / "log.bin")] if "log" in name else []
                servers[name] = (port, subprocess.Popen(
                    ["taskset", "-c", SERVER_CPU, PYTHON, *command, str(port), *extra],
                    stdout=subprocess.DEVNULL))
                wait_port(port)
            for i in range(args.rounds):
                for name, (port, proc) in servers.items():
                    scenario(f"{name} ({i + 1})", port, "bare.lua", args.seconds, 50, 1, proc.pid)
        finally:
            for _, proc in servers.values():
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
