"""One sink's delivery loop, in its own thread: tail every worker's log, batch, write, commit.

Each pass reads whole records from every worker directory, appends their rows
to one TableBuffer per table, and writes a table's rows as one batch when its
Batcher says so (the size trigger is checked after every record, the rest once
per pass). When a pass finds nothing new the thread sleeps `poll_interval`
(20 ms by default): an appended row reaches the sink within about that, plus
its table's batching delay.

Delivery is at-least-once. Every record read is queued per directory; it is
done when the batch holding its rows was written (or its rows dead-lettered).
A directory's cursor advances over the done records at the head of its queue
only, so it never passes a row that is not stored. Cursors are saved at most
every SAVE_EVERY_S after they move, and on stop; a crash replays the rest and
the sink deduplicates by row id.

A batch that fails with a RetryableError (or any unexpected exception) stays
in memory and is retried behind the Breaker; reading goes on until a table's
buffer holds `4 x max_rows` rows (at least MIN_BUFFER_ROWS), so memory stays
bounded while a sink is down. A PermanentError bisects the batch until the
offending rows are alone; they go to the dead-letter file, the rest is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tracker._fast import TableBuffer
from tracker.model.tables import TABLES, Table
from tracker.shipper.batching import Batcher, BatchPolicy
from tracker.shipper.breaker import Breaker
from tracker.shipper.cursor import CursorStore
from tracker.shipper.deadletter import DeadLetters
from tracker.shipper.stats import RunnerStats, short_error
from tracker.sinks.base import Batch, PermanentError, Sink, SinkError
from tracker.wal import Position, Record, WalReader, list_worker_dirs

log = logging.getLogger(__name__)

READ_MAX_RECORDS = 512
READ_MAX_BYTES = 4 << 20
MIN_BUFFER_ROWS = 10_000
SAVE_EVERY_S = 0.1
DISCOVER_EVERY_S = 1.0


@dataclass(eq=False, slots=True)
class _Pending:
    """A record read from a log and not yet fully delivered."""

    end: Position
    done: bool = False


class _Dir:
    """One worker directory as seen by one sink."""

    def __init__(self, path: Path, start: Position | None) -> None:
        self.name = path.name
        self.reader = WalReader(path, start)
        self.pending: deque[_Pending] = deque()
        self.committed = start

    def advance(self) -> bool:
        """Move the committed position over the done records at the head."""
        moved = False
        while self.pending and self.pending[0].done:
            self.committed = self.pending.popleft().end
            moved = True
        return moved


class _Table:
    """One table of one sink: its buffer, its batch in flight, its batching decision."""

    def __init__(self, table: Table, policy: BatchPolicy) -> None:
        self.table = table
        self.batcher = Batcher(policy)
        self.buffer = TableBuffer(table)
        self.max_buffered = max(4 * policy.max_rows, MIN_BUFFER_ROWS)
        self.since = 0.0  # when the oldest buffered row arrived
        self.entries: list[_Pending] = []  # records with rows in `buffer`
        self.inflight: deque[Batch] = deque()  # parts of the batch being written
        self.inflight_entries: list[_Pending] = []
        self.inflight_rows = 0
        self.inflight_bytes = 0


class SinkRunner:
    def __init__(
        self,
        sink: Sink,
        policies: dict[str, BatchPolicy],
        *,
        wal_root: Path,
        cursors: CursorStore,
        dead_letters: DeadLetters,
        appended: Callable[[], dict[str, int]],
        poll_interval: float = 0.02,
        breaker: Breaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.wal_root = Path(wal_root)
        self._cursors = cursors
        self._dead = dead_letters
        self._appended = appended
        self._poll = poll_interval
        self._breaker = breaker or Breaker(clock=clock)
        self._clock = clock
        self._tables = {t.table_id: _Table(t, policies.get(t.name, BatchPolicy())) for t in TABLES}
        self._stats = RunnerStats([t.name for t in TABLES])
        self._dirs: dict[str, _Dir] = {}
        self._start: dict[str, Position] = {}
        self._next_discover = 0.0
        self._caught_up = False  # the last pass found nothing new in any directory
        self._dirty = False
        self._last_save = 0.0

        self._lock = threading.Lock()  # guards the fields below, read by other threads
        self._committed: dict[str, Position] = {}
        self._saved: dict[str, Position] = {}
        self._failed = False

        self._stop = threading.Event()
        self._drain = True
        self._deadline = float("inf")
        self._complete = False
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.sink.name

    # -- control (any thread) -------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self, timeout: float, drain: bool = True) -> None:
        """Ask the thread to finish: with `drain`, deliver what the log holds within `timeout`."""
        self._deadline = self._clock() + max(0.0, timeout)
        self._drain = drain
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread; True when it ended having delivered everything it saw."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        return self._complete

    def stop(self, timeout: float, drain: bool = True) -> bool:
        self.request_stop(timeout, drain)
        return self.join(timeout + 1.0)  # a write in progress may overrun the deadline a bit

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def saved_positions(self) -> dict[str, Position]:
        """The positions on disk: what retiring segments may rely on."""
        with self._lock:
            return dict(self._saved)

    def snapshot(self) -> dict[str, Any]:
        snap = self._stats.snapshot()
        appended = self._appended()
        with self._lock:
            committed = dict(self._committed)
            failed = self._failed
        lag = sum(max(0, n - (committed[d].events if d in committed else 0))
                  for d, n in appended.items())
        return {
            "sink": self.name,
            "state": "failed" if failed else self._breaker.state,
            **snap,
            "dead_letters": self._dead.count,
            "lag_events": lag,
            "cursor": {
                d: {"segment": p.segment, "offset": p.offset, "events": p.events}
                for d, p in sorted(committed.items())
            },
        }

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        opened = False
        try:
            self._load_cursors()
            opened = self._open_sink()
            if opened:
                while not self._stop.is_set():
                    if not self._pass(force=False):
                        self._stop.wait(self._poll)
                if self._drain:
                    self._drain_all()
        except Exception as exc:  # a bug: say so loudly, keep the committed cursor
            log.exception("sink %s: delivery stopped", self.name)
            self._stats.error(short_error(exc))
            with self._lock:
                self._failed = True
        finally:
            if opened:
                self._save()
            for d in self._dirs.values():
                d.reader.close()
            try:
                self.sink.close()
            except Exception as exc:
                log.warning("sink %s: close failed: %s", self.name, short_error(exc))

    def _load_cursors(self) -> None:
        try:
            self._start = self._cursors.load()
        except (OSError, ValueError) as exc:
            # Replaying from the start is safe (sinks deduplicate); losing data is not.
            log.error("sink %s: unreadable cursor, replaying the log: %s", self.name, exc)
            self._start = {}
        with self._lock:
            self._saved = dict(self._start)
            self._committed = dict(self._start)

    def _open_sink(self) -> bool:
        while True:
            if self._stop.is_set() and (not self._drain or self._clock() >= self._deadline):
                return False
            if self._breaker.allow():
                try:
                    self.sink.open()
                except Exception as exc:
                    self._retry_later(exc, "open", None)
                else:
                    self._breaker.record_success()
                    return True
            self._sleep(max(self._breaker.wait_s(), 0.001))

    def _sleep(self, seconds: float) -> None:
        if self._stop.is_set():  # draining: the event no longer wakes us early
            time.sleep(max(0.0, min(seconds, self._deadline - self._clock())))
        else:
            self._stop.wait(seconds)

    def _drain_all(self) -> None:
        """Deliver everything in the log, regardless of batching policy, until the deadline."""
        self._next_discover = 0.0  # a worker may have started since the last look
        while self._clock() < self._deadline:
            progressed = self._pass(force=True)
            if self._idle():
                self._complete = True
                return
            if not progressed:
                self._sleep(max(self._poll, self._breaker.wait_s()))

    def _idle(self) -> bool:
        return self._caught_up and all(
            not t.inflight and t.buffer.num_rows == 0 for t in self._tables.values()
        )

    def _pass(self, force: bool) -> bool:
        """Read, flush, commit once. True when anything moved."""
        now = self._clock()
        if now >= self._next_discover:
            self._discover()
            self._next_discover = now + DISCOVER_EVERY_S
        got = self._read()
        flushed = self._flush(force)
        self._commit()
        self._stats.queued(
            sum(t.buffer.num_rows + t.inflight_rows for t in self._tables.values()),
            sum(t.buffer.nbytes + t.inflight_bytes for t in self._tables.values()),
        )
        return got > 0 or flushed

    def _discover(self) -> None:
        for path in list_worker_dirs(self.wal_root):
            if path.name not in self._dirs:
                self._dirs[path.name] = _Dir(path, self._start.get(path.name))

    # -- reading ------------------------------------------------------------------

    def _read(self) -> int:
        """Read one chunk from every directory; sets `_caught_up` when all had nothing new."""
        got = 0
        caught_up = True
        for d in self._dirs.values():
            if self._full():
                caught_up = False
                break
            try:
                records = d.reader.read(READ_MAX_RECORDS, READ_MAX_BYTES)
            except OSError as exc:
                log.warning("sink %s: reading %s: %s", self.name, d.name, exc)
                caught_up = False
                continue
            for rec in records:
                self._ingest(d, rec)
            got += len(records)
        self._caught_up = caught_up and got == 0
        return got

    def _full(self) -> bool:
        return any(t.buffer.num_rows >= t.max_buffered for t in self._tables.values())

    def _ingest(self, d: _Dir, rec: Record) -> None:
        entry = _Pending(rec.end)
        d.pending.append(entry)
        t = self._tables.get(rec.table_id)
        rows = _decode(rec.payload)
        if t is None or rows is None:
            name = t.table.name if t else f"table#{rec.table_id}"
            why = "undecodable payload" if rows is None else "unknown table id"
            self._dead.add(name, [(rec.payload.decode("utf-8", "replace"), why)])
            entry.done = True
            return
        rejected = t.buffer.extend(rows) if rows else []
        if rejected:
            self._dead.add(t.table.name, [(rows[i], str(err)) for i, err in rejected])
        if len(rejected) == len(rows):
            entry.done = True
            return
        if not t.entries:
            t.since = self._clock()
        t.entries.append(entry)
        if not t.inflight and t.batcher.full(t.buffer.num_rows, t.buffer.nbytes):
            self._flush_table(t)

    # -- writing --------------------------------------------------------------------

    def _flush(self, force: bool) -> bool:
        now = self._clock()
        flushed = False
        for t in self._tables.values():
            if t.inflight:
                flushed |= self._write_inflight(t)
            if t.inflight or t.buffer.num_rows == 0:
                continue
            if force or t.batcher.should_flush(t.buffer.num_rows, t.buffer.nbytes, now - t.since):
                flushed |= self._flush_table(t)
        return flushed

    def _flush_table(self, t: _Table) -> bool:
        batch = t.buffer.take()
        t.inflight.append(batch)
        t.inflight_entries, t.entries = t.entries, []
        t.inflight_rows, t.inflight_bytes = batch.num_rows, batch.nbytes
        return self._write_inflight(t)

    def _write_inflight(self, t: _Table) -> bool:
        """Write the parts of `t`'s batch; True when the whole batch is resolved."""
        if not self._breaker.allow():
            return False
        name = t.table.name
        while t.inflight:
            part = t.inflight[0]
            started = self._clock()
            try:
                self.sink.write(part)
            except PermanentError as exc:
                self._stats.failed(name, short_error(exc))
                t.inflight.popleft()
                n = part.num_rows
                if n <= 1:
                    error = short_error(exc)
                    self._dead.add(name, [(row, error) for row in part.rows()])
                else:  # bisect: the offending rows end up alone
                    t.inflight.appendleft(part.slice(n // 2, n))
                    t.inflight.appendleft(part.slice(0, n // 2))
                continue
            except Exception as exc:  # RetryableError, or a sink bug we cannot judge
                self._retry_later(exc, "write", name)
                return False
            seconds = self._clock() - started
            if self._breaker.state != "ok":
                log.info("sink %s: writing again", self.name)
            self._breaker.record_success()
            self._stats.delivered(name, part.num_rows, seconds)
            t.batcher.observe(part.num_rows, seconds)
            t.inflight.popleft()
        for entry in t.inflight_entries:
            entry.done = True
        t.inflight_entries = []
        t.inflight_rows = t.inflight_bytes = 0
        return True

    def _retry_later(self, exc: Exception, what: str, table: str | None) -> None:
        error = short_error(exc)
        if table is None:
            self._stats.error(error)
        else:
            self._stats.failed(table, error)
        before = self._breaker.state
        delay = self._breaker.record_failure()
        # Log the start of an outage and the breaker opening, not every retry.
        if before == "ok" or self._breaker.state != before:
            log.warning(
                "sink %s: %s failed (%s), now %s, retry in %.1fs",
                self.name, what, error, self._breaker.state, delay,
                exc_info=not isinstance(exc, SinkError),  # not a sink's verdict: maybe a bug
            )

    # -- committing -------------------------------------------------------------------

    def _commit(self) -> None:
        moved = False
        for d in self._dirs.values():
            moved |= d.advance()
        if moved:
            with self._lock:
                self._committed = {
                    n: d.committed for n, d in self._dirs.items() if d.committed is not None
                }
            self._dirty = True
        if self._dirty and self._clock() - self._last_save >= SAVE_EVERY_S:
            self._save()

    def _save(self) -> None:
        if not self._dirty:
            return
        with self._lock:
            positions = dict(self._committed)
        try:
            self._cursors.save(positions)
        except OSError as exc:
            log.error("sink %s: saving the cursor: %s", self.name, exc)
            return
        self._last_save = self._clock()
        self._dirty = False
        with self._lock:
            self._saved = positions


def _decode(payload: bytes) -> list[Any] | None:
    """The rows of a record, or None when the payload is not a JSON array."""
    try:
        rows = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return rows if isinstance(rows, list) else None
