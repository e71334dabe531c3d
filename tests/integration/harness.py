"""Starting real `tracker run` processes for integration tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TrackerProcess:
    """One `tracker run` (supervisor, workers, shipper) in its own process group.

    `env`: variables added to the test's environment for the child (e.g. a CA bundle).
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, **config: Any):
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.config = {"ProxyPort": f"127.0.0.1:{self.port}", "Workers": 1,
                       "DataDirectory": str(data_dir), "LogLevel": "warning",
                       "ShutdownTimeout": 20, **config}
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = data_dir / "config.json"
        self.config_path.write_text(json.dumps(self.config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "tracker.log"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "tracker.duckdb"

    def start(self, timeout: float = 60.0, *, first_answer: bool = False) -> TrackerProcess:
        """Run `tracker run` and wait until every process is up; with `first_answer`
        only until some worker answers /ping (the shipper may still be starting)."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen([sys.executable, "-m", "tracker", "run",
                                      str(self.config_path)], cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=None if self.env is None else {**os.environ, **self.env})
        log.close()
        deadline = time.monotonic() + timeout
        workers = int(self.config["Workers"])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tracker exited early:\n{self.log()}")
            run = self.data_dir / "run"
            states = list(run.glob("worker-*.json"))
            shipper = (run / "shipper.json").exists()
            if (first_answer or (len(states) >= workers and shipper)) and self._answers():
                return self
            time.sleep(0.005 if first_answer else 0.1)
        raise RuntimeError(f"tracker did not start in {timeout}s:\n{self.log()}")

    def _answers(self) -> bool:
        try:
            status, _, _ = self.request("GET", "/ping")
            return status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0
                ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            hdrs["set-cookie"] = "\n".join(resp.headers.get_all("Set-Cookie") or [])
            return resp.status, hdrs, data
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, (status, body)
        return json.loads(body)

    def lag(self) -> int:
        sinks = self.json("/health")["sinks"]
        return sum(int(s["lag_events"]) for s in sinks.values())

    def wait_delivered(self, expected_received: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.json("/metrics?format=json")
            if m["events_received_total"] >= expected_received and self.lag() == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"not delivered in {timeout}s: {self.json('/health')}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Kept for the report: why it did not stop, in its own words.
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            _wait_group_gone(self.proc.pid)  # nothing of it outlives the test
            raise AssertionError(f"tracker did not stop within {timeout}s of signal {sig}; "
                                 f"its log:\n{self.log()[-20000:]}") from None
        if sig == signal.SIGKILL:
            _wait_group_gone(self.proc.pid)
        return code

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read the DuckDB file (only while tracker is stopped: DuckDB has one writer)."""
        con = duckdb.connect(str(self.duckdb_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} still alive")
