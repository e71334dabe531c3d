"""The derived views of schema/duckdb/005_views.sql over a small, known day of traffic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pytest

from tests.conformance.batches import column_batch
from tests.conformance.rows import uid
from tracker.model.tables import EVENTS
from tracker.sinks.duckdb import DuckDBSink

DAY1 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY2 = DAY1 + 86_400_000
HOUR = 3_600_000
A, B, C = uid(1, 0xA), uid(2, 0xA), uid(3, 0xA)
S1, S2, S3, S4 = uid(1, 0x5), uid(2, 0x5), uid(3, 0x5), uid(4, 0x5)
HOME, PRICING = "https://Example.com/Home", "https://Example.com/pricing"


def ev(at: int, vid: str, sid: str, url: str, **over: Any) -> dict[str, Any]:
    row = {
        "created_at": at,
        "vid": vid,
        "sid": sid,
        "url": url,
        "host": "Example.com",
        "ename": "page_view",
        "bot": False,
    }
    row.update(over)
    return row


_TRAFFIC = [
    ev(DAY1 + 9 * HOUR, A, S1, HOME, referrer="https://www.Google.com/search?q=x", source="g"),
    ev(DAY1 + 9 * HOUR + 5000, A, S1, HOME, ename="click"),
    ev(DAY1 + 9 * HOUR + 60_000, A, S1, PRICING, referrer="https://example.com/Home"),
    ev(DAY1 + 10 * HOUR, B, S2, HOME, referrer="https://news.ycombinator.com/item?id=1",
       xid="exp-1", split="A", outcome="view", score=1.0),
    ev(DAY1 + 11 * HOUR, C, S4, HOME, bot=True, referrer="https://spam.example/"),
    ev(DAY2 + 8 * HOUR, A, S3, HOME, xid="exp-1", split="B", outcome="converted", score=2.0,
       revenue=10.0),
    ev(DAY2 + 8 * HOUR + 1000, A, S3, HOME, xid="exp-1", split="B", outcome="converted",
       score=3.0),
]  # fmt: skip
TRAFFIC = [dict(r, eid=uid(n, 0xE)) for n, r in enumerate(_TRAFFIC, 1)]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path = tmp_path_factory.mktemp("views") / "tracker.duckdb"
    sink = DuckDBSink("duck", path)
    sink.open()
    sink.write(column_batch(EVENTS, TRAFFIC))
    sink.close()
    c = duckdb.connect(str(path))
    yield c
    c.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def test_visitors(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT vid::VARCHAR, first_seen, last_seen, events, sessions FROM visitors")
    assert sorted(got) == sorted(
        [
            (A, at(DAY1 + 9 * HOUR), at(DAY2 + 8 * HOUR + 1000), 5, 2),
            (B, at(DAY1 + 10 * HOUR), at(DAY1 + 10 * HOUR), 1, 1),
        ]
    )  # C is a bot


def test_sessions(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con,
        "SELECT sid::VARCHAR, vid::VARCHAR, started_at, ended_at, duration_ms, events,"
        " first_url, last_url, referrer, source FROM sessions WHERE sid = '" + S1 + "'",
    )
    assert got == [
        (S1, A, at(DAY1 + 9 * HOUR), at(DAY1 + 9 * HOUR + 60_000), 60_000, 3, HOME, PRICING,
         "https://www.Google.com/search?q=x", "g"),
    ]  # fmt: skip
    assert rows(con, "SELECT count(*) FROM sessions") == [(3,)]


def test_dailies(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT day, host, events, visitors, sessions FROM dailies ORDER BY day")
    assert got == [
        (date(2026, 1, 1), "Example.com", 4, 2, 2),
        (date(2026, 1, 2), "Example.com", 2, 1, 1),
    ]


def test_referrers_are_external_only(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT day, referrer_host, referrer, visits, visitors FROM referrers")
    assert sorted(got) == [
        (date(2026, 1, 1), "news.ycombinator.com", "https://news.ycombinator.com/item?id=1", 1, 1),
        (date(2026, 1, 1), "www.google.com", "https://www.Google.com/search?q=x", 1, 1),
    ]


def test_outcomes(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(
        con, "SELECT xid, split, outcome, events, visitors, score_sum, revenue_sum FROM outcomes"
    )
    assert sorted(got) == [
        ("exp-1", "A", "view", 1, 1, 1.0, None),
        ("exp-1", "B", "converted", 2, 1, 5.0, 10.0),
    ]


def test_hits(con: duckdb.DuckDBPyConnection) -> None:
    got = rows(con, "SELECT day, url, hits, visitors FROM hits")
    assert sorted(got) == [
        (date(2026, 1, 1), HOME, 3, 2),
        (date(2026, 1, 1), PRICING, 1, 1),
        (date(2026, 1, 2), HOME, 2, 1),
    ]
