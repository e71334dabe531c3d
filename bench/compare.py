"""Print how each benchmark moved against the stored baseline (informational only).

    make bench            # writes .benchmarks/latest.json
    make bench-compare    # compares it with bench/baseline.json
    make bench-baseline   # makes the latest run the new baseline (commit it)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def medians(path: Path) -> dict[str, float]:
    doc = json.loads(path.read_text())
    return {b["fullname"]: b["stats"]["median"] for b in doc["benchmarks"]}


def save_baseline(latest: str = ".benchmarks/latest.json",
                  baseline: str = "bench/baseline.json") -> int:
    """Keep each benchmark's statistics only (the raw timings are megabytes)."""
    doc = json.loads(Path(latest).read_text())
    keep = {"machine_info": {k: doc["machine_info"].get(k) for k in
                             ("node", "processor", "machine", "python_version", "cpu")},
            "datetime": doc.get("datetime"),
            "benchmarks": [{"fullname": b["fullname"],
                            "stats": {k: b["stats"][k] for k in
                                      ("min", "max", "mean", "median", "stddev", "rounds")}}
                           for b in doc["benchmarks"]]}
    Path(baseline).write_text(json.dumps(keep, indent=1) + "\n")
    print(f"{baseline}: {len(keep['benchmarks'])} benchmarks")
    return 0


def main(baseline: str = "bench/baseline.json", latest: str = ".benchmarks/latest.json") -> int:
    base, new = medians(Path(baseline)), medians(Path(latest))
    width = max(len(n) for n in base | new)
    print(f"{'benchmark':<{width}}  {'baseline':>11}  {'latest':>11}  change")
    for name in sorted(base | new):
        b, n = base.get(name), new.get(name)
        if b is None or n is None:
            print(f"{name:<{width}}  {_us(b):>11}  {_us(n):>11}  {'new' if b is None else 'gone'}")
            continue
        change = (n - b) / b
        flag = "  slower" if change > 0.10 else ("  faster" if change < -0.10 else "")
        print(f"{name:<{width}}  {_us(b):>11}  {_us(n):>11}  {change:+7.1%}{flag}")
    return 0


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.2f} us"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--save-baseline"]:
        raise SystemExit(save_baseline(*sys.argv[2:]))
    raise SystemExit(main(*sys.argv[1:]))
