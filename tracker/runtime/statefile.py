"""Small JSON state files under DataDirectory/run/, written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tracker.atomicfile import write_atomic


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace `path` with `state` so readers never see a half-written file."""
    write_atomic(path, orjson.dumps(state), durable=False)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def worker_state_path(run_dir: Path, worker: int) -> Path:
    return run_dir / f"worker-{worker}.json"


def shipper_state_path(run_dir: Path) -> Path:
    return run_dir / "shipper.json"


def read_worker_states(run_dir: Path) -> list[dict[str, Any]]:
    states = []
    for path in sorted(run_dir.glob("worker-*.json")):
        state = read_state(path)
        if state is not None:
            states.append(state)
    return states
