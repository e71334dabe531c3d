"""One sink's delivery loop, in its own thread: tail every worker's log, batch, write, commit.

Each pass reads a chunk of whole records from every worker directory, scans
their JSON rows straight into one TableBuffer per table (JsonRows: no dict per
row), and starts writing a table's rows as one batch when its Batcher says so
(the size trigger is checked after every record, the rest once per pass). When
a pass finds nothing new the thread sleeps `poll_interval` (20 ms by default):
an appended row reaches the sink within about that, plus its batching delay.

Writes run on the sink's own thread (SinkThread), one at a time, while this
thread reads on: one batch in flight, the next one filling up. A table takes
no more rows while its batch is in flight and its buffer has reached its size
trigger (or, for strategies without one, `max_buffered` rows); the rest of the
chunk is held until then. So a batch never outgrows its size, and memory stays
bounded while a store is slow or down.

Delivery is at-least-once. Every chunk read is queued per directory; it is
done when all its records are buffered and every batch holding its rows was
written (or its rows dead-lettered). A directory's cursor advances over the
done chunks at the head of its queue only, so it never passes a row that is
not stored. Cursors are saved at most every SAVE_EVERY_S after they move, and
on stop; a crash replays the rest and the sink deduplicates by row id.

A batch that fails with a RetryableError (or any unexpected exception) stays
in memory and is retried behind the Breaker. A PermanentError bisects the
batch until the offending rows are alone; they go to the dead-letter file,
the rest is written.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tracker._fast import JsonRows, TableBuffer
from tracker.model.tables import TABLES, Table
from tracker.shipper.batching import Batcher, BatchPolicy
from tracker.shipper.breaker import Breaker
from tracker.shipper.cursor import CursorStore
from tracker.shipper.deadletter import DeadLetters
from tracker.shipper.sinkthread import Job, SinkThread
from tracker.shipper.stats import RunnerStats, short_error
from tracker.sinks.base import Batch, PermanentError, Sink, SinkError
from tracker.wal import Position, WalReader, list_worker_dirs

log = logging.getLogger(__name__)

READ_MAX_RECORDS = 512
READ_MAX_BYTES = 4 << 20
MIN_BUFFER_ROWS = 10_000
SAVE_EVERY_S = 0.1
# A pass with nothing to do waits this long, at most, for the write under way.
WAIT_WRITE_S = 0.25
DISCOVER_EVERY_S = 1.0


@dataclass(eq=False, slots=True)
class _Pending:
    """One chunk of records read from a log, until all its rows are delivered.

    `waiting` counts the (table, batch) pairs holding rows of the chunk, plus
    one until every record of the chunk is buffered; the chunk is done when it
    drops to 0 (a chunk whose rows were all dead-lettered waits for nothing).
    """

    end: Position
    waiting: int = 1


class _Dir:
    """One worker directory as seen by one sink."""

    def __init__(self, path: Path, start: Position | None) -> None:
        self.name = path.name
        self.reader = WalReader(path, start)
        self.pending: deque[_Pending] = deque()
        self.committed = start
        # The rest of a chunk whose table took no more rows (see SinkRunner._ingest).
        self.held: list[tuple[int, bytes]] = []
        self.held_chunk: _Pending | None = None

    def advance(self) -> bool:
        """Move the committed position over the done chunks at the head."""
        moved = False
        while self.pending and self.pending[0].waiting == 0:
            self.committed = self.pending.popleft().end
            moved = True
        return moved


class _Table:
    """One table of one sink: its buffer, its batch in flight, its batching decision."""

    def __init__(self, table: Table, policy: BatchPolicy) -> None:
        self.table = table
        self.batcher = Batcher(policy)
        self.buffer = TableBuffer(table)
        self.json_rows = JsonRows(table)
        # The buffer takes no more rows past this many (strategies without a size
        # trigger), nor past its size trigger while a batch is in flight.
        self.max_buffered = max(policy.max_rows, MIN_BUFFER_ROWS)
        self.by_bytes = policy.strategy == "memory"  # else `full` needs no nbytes
        self.since = 0.0  # when the oldest buffered row arrived
        # The chunks with rows in `buffer`, each with the buffer row its rows start
        # at (a chunk appears once per run of consecutive rows it holds).
        self.entries: list[_Pending] = []
        self.starts: list[int] = []
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
        # A sink may take only some tables (`tables`); records of the others are skipped.
        taken: tuple[Table, ...] = getattr(sink, "tables", TABLES)
        self._tables = {t.table_id: _Table(t, policies.get(t.name, BatchPolicy())) for t in taken}
        self._skipped = frozenset(t.table_id for t in TABLES) - self._tables.keys()
        self._stats = RunnerStats([t.name for t in taken])
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
        self._io: SinkThread | None = None  # runs every call on the sink
        self._writing: tuple[_Table, Job] | None = None  # the write under way
        self._writes_open = True  # False once the thread is finishing: no new writes

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
        self._io = SinkThread(f"sink-io-{self.name}")
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
                self._finish_write()
                self._save()
            for d in self._dirs.values():
                d.reader.close()
            try:
                self._io.call(self.sink.close)  # after the write under way, if any
            except Exception as exc:
                log.warning("sink %s: close failed: %s", self.name, short_error(exc))
            self._io.stop()

    def _finish_write(self) -> None:
        """Wait for the write under way and commit what it stored (stopping anyway)."""
        self._writes_open = False
        try:
            self._reap(wait=None)
            self._commit()
        except Exception:
            log.exception("sink %s: finishing the last write", self.name)

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
                    self._io.call(self.sink.open)
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
        return self._caught_up and self._writing is None and all(
            not t.inflight and t.buffer.num_rows == 0 for t in self._tables.values()
        )

    def _pass(self, force: bool) -> bool:
        """Read, flush, commit once. True when anything moved."""
        now = self._clock()
        if now >= self._next_discover:
            self._discover()
            self._next_discover = now + DISCOVER_EVERY_S
        got = self._read()
        progressed = self._reap()
        progressed |= self._flush(force)
        if not (got or progressed) and self._writing is not None:
            # Nothing to read, or the buffers are full: wait for the store, not the clock.
            progressed = self._reap(wait=WAIT_WRITE_S)
        self._commit()
        self._stats.queued(
            sum(t.buffer.num_rows + t.inflight_rows for t in self._tables.values()),
            sum(t.buffer.nbytes + t.inflight_bytes for t in self._tables.values()),
        )
        return got > 0 or progressed

    def _discover(self) -> None:
        for path in list_worker_dirs(self.wal_root):
            if path.name not in self._dirs:
                self._dirs[path.name] = _Dir(path, self._start.get(path.name))

    # -- reading ------------------------------------------------------------------

    def _read(self) -> int:
        """Buffer one chunk from every directory (or what is left of a held one);
        sets `_caught_up` when no directory had anything new. Records buffered."""
        got = 0
        caught_up = True
        for d in self._dirs.values():
            if d.held:
                records, chunk = d.held, d.held_chunk
            else:
                try:
                    records = d.reader.read_chunk(READ_MAX_RECORDS, READ_MAX_BYTES)
                except OSError as exc:
                    log.warning("sink %s: reading %s: %s", self.name, d.name, exc)
                    caught_up = False
                    continue
                if not records:
                    continue
                chunk = _Pending(d.reader.position)
                d.pending.append(chunk)
            assert chunk is not None
            done = self._ingest(chunk, records)
            got += done
            d.held, d.held_chunk = (records[done:], chunk) if done < len(records) else ([], None)
            if d.held:
                caught_up = False
        self._caught_up = caught_up and got == 0
        return got

    def _ingest(self, chunk: _Pending, records: list[tuple[int, bytes]]) -> int:
        """Buffer the rows of `records` (of `chunk`), in order; a table whose size
        trigger fires is written at once. Stops at a record whose table takes no
        more rows (see `_Table.max_buffered`), so a batch never outgrows its size
        and memory stays bounded while a store is down; returns how many records
        it buffered."""
        tables = self._tables
        for index, (table_id, payload) in enumerate(records):
            t = tables.get(table_id)
            if t is None:
                if table_id not in self._skipped:
                    self._dead_record(f"table#{table_id}", payload, "unknown table id")
                continue
            buffer = t.buffer
            before = buffer.num_rows
            if before >= t.max_buffered or (
                t.inflight and t.batcher.full(before, buffer.nbytes if t.by_bytes else 0)
            ):
                return index
            rejected = t.json_rows.extend(buffer, payload)
            if rejected is None:
                self._dead_record(t.table.name, payload, "undecodable payload")
                continue
            if rejected:  # rare: decode again for the rows themselves
                rows = orjson.loads(payload)
                self._dead.add(t.table.name, [(rows[i], error) for i, error in rejected])
            if buffer.num_rows == before:
                continue
            if not t.entries:
                t.since = self._clock()
            if not t.entries or t.entries[-1] is not chunk:
                t.entries.append(chunk)
                t.starts.append(before)
                chunk.waiting += 1
            if not t.inflight and t.batcher.full(
                buffer.num_rows, buffer.nbytes if t.by_bytes else 0
            ):
                self._flush_table(t)
        chunk.waiting -= 1  # every record is buffered
        return len(records)

    def _dead_record(self, table: str, payload: bytes, why: str) -> None:
        self._dead.add(table, [(payload.decode("utf-8", "replace"), why)])

    # -- writing --------------------------------------------------------------------

    def _flush(self, force: bool) -> bool:
        """Start the writes that are due; True when a table's rows were taken."""
        now = self._clock()
        flushed = False
        for t in self._tables.values():
            if t.inflight:
                self._submit(t)
            elif t.buffer.num_rows and (
                force or t.batcher.should_flush(t.buffer.num_rows, t.buffer.nbytes, now - t.since)
            ):
                flushed |= self._flush_table(t)
        return flushed

    def _flush_table(self, t: _Table) -> bool:
        """Take the buffered rows as `t`'s batch and start writing it."""
        self._take(t)
        self._submit(t)
        return True

    def _take(self, t: _Table) -> None:
        """The buffered rows become `t`'s batch in flight (written when the sink
        thread is free): at most the batch size, so a batch that reached its size
        trigger in the middle of a record holds exactly that many rows (DuckDB
        stores an insert of exactly one row group best); the rest stays buffered."""
        batch = t.buffer.take(t.batcher.batch_rows())
        taken = batch.num_rows
        t.inflight.append(batch)
        t.inflight_rows, t.inflight_bytes = taken, batch.nbytes
        split = bisect.bisect_left(t.starts, taken)  # entries[:split] have rows in the batch
        t.inflight_entries = t.entries[:split]
        entries, starts = t.entries[split:], [s - taken for s in t.starts[split:]]
        if t.buffer.num_rows and (not starts or starts[0] > 0):
            # The last chunk in the batch also holds rows left in the buffer.
            straddling = t.inflight_entries[-1]
            straddling.waiting += 1
            entries.insert(0, straddling)
            starts.insert(0, 0)
        t.entries, t.starts = entries, starts
        if t.buffer.num_rows:
            t.since = self._clock()

    def _submit(self, t: _Table) -> None:
        """Hand `t`'s next part to the sink thread: one write at a time, behind the breaker."""
        if self._writing is None and t.inflight and self._writes_open and self._breaker.allow():
            assert self._io is not None
            self._writing = (t, self._io.submit(self._timed_write, t.inflight[0]))

    def _timed_write(self, part: Batch) -> float:
        """On the sink thread: write one part; the seconds it took."""
        started = self._clock()
        self.sink.write(part)
        return self._clock() - started

    def _reap(self, wait: float | None = 0.0) -> bool:
        """Take the outcome of the write under way, waiting up to `wait` seconds
        (None: however long); True when there was one to take."""
        if self._writing is None:
            return False
        t, job = self._writing
        if not job.wait(wait):
            return False
        self._writing = None
        name = t.table.name
        part = t.inflight[0]
        try:
            seconds = job.result()
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
        except Exception as exc:  # RetryableError, or a sink bug we cannot judge
            self._retry_later(exc, "write", name)
            return True
        else:
            if self._breaker.state != "ok":
                log.info("sink %s: writing again", self.name)
            self._breaker.record_success()
            self._stats.delivered(name, part.num_rows, seconds)
            t.batcher.observe(part.num_rows, seconds)
            t.inflight.popleft()
        if t.inflight:  # the parts of a bisected batch follow each other
            self._submit(t)
            return True
        for entry in t.inflight_entries:
            entry.waiting -= 1
        t.inflight_entries = []
        t.inflight_rows = t.inflight_bytes = 0
        if t.batcher.full(t.buffer.num_rows, t.buffer.nbytes if t.by_bytes else 0):
            self._take(t)  # read ahead while this batch was written
        self._submit_next(t)
        return True

    def _submit_next(self, last: _Table) -> None:
        """Start the next batch in flight, taking tables in turn after `last`, so a
        table with a backlog does not hold back the others' batches."""
        tables = list(self._tables.values())
        start = tables.index(last)
        for k in range(1, len(tables) + 1):
            t = tables[(start + k) % len(tables)]
            if t.inflight:
                self._submit(t)
                return

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
