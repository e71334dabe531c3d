"""Instructions per request of the worker application, counted by valgrind.

Runs `loadtest/request_cost.py` under callgrind twice, with a short and a long
timed part, and divides the difference of the two totals by the difference of
requests: start-up, imports and warm-up cancel out. Instruction counts do not
depend on what else the machine is doing, so a change of 1% shows, where
timings on this shared machine wander by 5-25%. Instructions are not time
(one cache miss costs dozens), so confirm a gain with `make loadtest`.

    .venv/bin/python loadtest/instructions.py [get|post|batch|const ...]

Needs valgrind (Debian package valgrind); about a minute per kind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# kind -> (request_cost.py flags, turns of the short and the long run, requests per turn)
KINDS = {
    "get": ([], 200, 1200, 64),
    "post": (["--post"], 200, 1200, 64),
    "const": (["--const"], 200, 1200, 64),
    # request_cost.py runs a tenth of the turns for batches: 8 connections, 100 events
    "batch": (["--batch"], 100, 400, 8 * 100 / 10),
}


def total_instructions(flags: list[str], turns: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
             sys.executable, str(HERE / "request_cost.py"), *flags, "--turns", str(turns)],
            capture_output=True, text=True, check=True,
            # the same hashes every run: dict layouts do not move the count
            env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", out.stderr)
    if not found:
        raise RuntimeError(f"no callgrind total in: {out.stderr[-500:]}")
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kinds", nargs="*", default=["get", "post", "batch"], choices=list(KINDS))
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    for kind in args.kinds:
        flags, short, long, per_turn = KINDS[kind]
        extra = total_instructions(flags, long) - total_instructions(flags, short)
        unit = "event" if kind == "batch" else "request"
        print(f"{kind}: {extra / ((long - short) * per_turn):,.0f} instructions per {unit}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
