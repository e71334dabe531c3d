"""What every store must do, run once per entry of SINK_FACTORIES (see conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.harness import SinkFactory, SinkProbe, normalize_row
from tests.conformance.rows import event, row
from tests.conformance.stores import SINK_FACTORIES
from tracker.model.tables import EVENTS, TABLES, TABLES_BY_NAME, Table
from tracker.sinks.base import Batch, PermanentError, Sink

MakeBatch = Callable[[Table, list[dict[str, Any]]], Batch]


@pytest.fixture
def sink(sink_factory: SinkFactory, tmp_path: Path) -> Iterator[Sink]:
    s = sink_factory.new_sink(tmp_path)
    s.open()
    yield s
    s.close()


@pytest.fixture
def probe(sink_factory: SinkFactory, tmp_path: Path) -> SinkProbe:
    return sink_factory.new_probe(tmp_path)


def assert_stored(probe, table: Table, expected: dict[str, Any]) -> None:
    stored = probe.fetch(table.name, expected[table.key])
    assert stored == [normalize_row(table, expected)]


def test_open_twice_then_write(sink: Sink, probe: SinkProbe, make_batch: MakeBatch) -> None:
    sink.open()
    sink.write(make_batch(EVENTS, [event(1), event(2)]))
    assert probe.count("events") == 2


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_rows_round_trip(sink: Sink, probe: SinkProbe, make_batch: MakeBatch, table: Table) -> None:
    rows = [row(table, n) for n in range(1, 6)]
    sink.write(make_batch(table, rows))
    assert probe.count(table.name) == 5
    for r in rows:
        assert_stored(probe, table, r)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_replayed_batch_is_stored_once(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch, table: Table
) -> None:
    batch = make_batch(table, [row(table, n) for n in range(1, 4)])
    sink.write(batch)
    sink.write(batch)
    sink.write(batch.slice(1, 3))
    assert probe.count(table.name) == 3


def test_replay_mixed_with_new_rows_stores_only_the_new(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch
) -> None:
    sink.write(make_batch(EVENTS, [event(1), event(2)]))
    sink.write(make_batch(EVENTS, [event(2), event(3), event(1), event(4)]))
    assert probe.count("events") == 4
    for n in (1, 2, 3, 4):
        assert len(probe.fetch("events", event(n)["eid"])) == 1


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_duplicate_key_inside_one_batch_is_stored_once(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch, table: Table
) -> None:
    first = row(table, 1)
    again = dict(first)  # the same row twice, as a replayed record inside one batch
    sink.write(make_batch(table, [first, row(table, 2), again]))
    assert probe.count(table.name) == 2
    assert len(probe.fetch(table.name, first[table.key])) == 1


def test_client_retry_of_the_same_eid_is_absorbed(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch
) -> None:
    original = event(1)
    retry = event(1, created_at=original["created_at"] + 90_000, client_ts=None)
    sink.write(make_batch(EVENTS, [original]))
    sink.write(make_batch(EVENTS, [retry, event(2)]))
    assert probe.count("events") == 2
    assert len(probe.fetch("events", original["eid"])) == 1


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_nulls_survive(sink: Sink, probe: SinkProbe, make_batch: MakeBatch, table: Table) -> None:
    full = row(table, 1)
    sparse = {c.name: full[c.name] for c in table.columns if not c.nullable}
    sink.write(make_batch(table, [sparse]))
    stored = probe.fetch(table.name, full[table.key])
    assert stored == [normalize_row(table, sparse)]
    nullable = [c.name for c in table.columns if c.nullable]
    assert nullable and all(stored[0][name] is None for name in nullable)


def test_unicode_and_long_strings_survive(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch
) -> None:
    long_url = "https://example.com/" + "Ab9-" * 250_000  # one megabyte
    odd = event(
        1,
        ename="Grüße 日本語 עברית 😀 e\u0301",
        url=long_url,
        referrer="nul\x00inside, tab\t, newline\n, quote ' and \" and \\",
        params={"emoji": "🎉", "long": "x" * 100_000, "ключ": ["значение", None]},
    )
    sink.write(make_batch(EVENTS, [odd, event(2, ename="")]))
    assert_stored(probe, EVENTS, odd)
    assert probe.fetch("events", event(2)["eid"])[0]["ename"] == ""


def test_values_keep_their_case(sink: Sink, probe: SinkProbe, make_batch: MakeBatch) -> None:
    mixed = event(1, url="https://Example.COM/Some/PATH?Utm_Source=NewsLetter", uid="JohnDoe")
    sink.write(make_batch(EVENTS, [mixed]))
    stored = probe.fetch("events", mixed["eid"])[0]
    assert stored["url"] == "https://Example.COM/Some/PATH?Utm_Source=NewsLetter"
    assert (stored["uid"], stored["ename"], stored["host"]) == ("JohnDoe", "SignUp", "Example.com")


def test_numbers_at_their_limits_survive(
    sink: Sink, probe: SinkProbe, make_batch: MakeBatch
) -> None:
    extreme = event(
        1,
        vp_w=2**63 - 1,
        vp_h=-(2**63),
        cflags=0,
        score=-1.5e308,
        revenue=5e-324,
        lat=-90.0,
        lon=180.0,
        bot=True,
        client_ts=0,  # the epoch itself
    )
    sink.write(make_batch(EVENTS, [extreme]))
    assert_stored(probe, EVENTS, extreme)
    pay = row(TABLES_BY_NAME["payments"], 1, amt="99999999999999.9999", price="-0.0001", qty=0)
    sink.write(make_batch(TABLES_BY_NAME["payments"], [pay]))
    assert_stored(probe, TABLES_BY_NAME["payments"], pay)


def test_empty_batch_is_a_no_op(sink: Sink, probe: SinkProbe, make_batch: MakeBatch) -> None:
    sink.write(make_batch(EVENTS, []))
    assert probe.count("events") == 0


def rejected_cases() -> list[Any]:
    return [
        pytest.param(f, table, over, marks=f.marks, id=f"{f.name}-{table}-{','.join(over)}")
        for f in SINK_FACTORIES
        for table, over in f.rejected
    ]


@pytest.mark.parametrize(("factory", "table_name", "override"), rejected_cases())
def test_value_the_store_refuses_is_a_permanent_error(
    factory: SinkFactory,
    tmp_path: Path,
    make_batch: MakeBatch,
    table_name: str,
    override: dict[str, Any],
) -> None:
    table = TABLES_BY_NAME[table_name]
    sink = factory.new_sink(tmp_path)
    probe = factory.new_probe(tmp_path)
    sink.open()
    try:
        bad = make_batch(table, [row(table, 1), row(table, 2, **override), row(table, 3)])
        with pytest.raises(PermanentError):
            sink.write(bad)
        # Nothing of the refused batch is stored, and the sink keeps working: the
        # shipper bisects the batch and writes the good halves.
        assert probe.count(table.name) == 0
        sink.write(bad.slice(0, 1))
        sink.write(bad.slice(2, 3))
        assert probe.count(table.name) == 2
    finally:
        sink.close()


def test_close_twice(sink_factory: SinkFactory, tmp_path: Path) -> None:
    sink = sink_factory.new_sink(tmp_path)
    sink.open()
    sink.close()
    sink.close()
    never_opened = sink_factory.new_sink(tmp_path / "other")
    never_opened.close()


def test_reopened_sink_keeps_data_and_dedup(
    sink_factory: SinkFactory, tmp_path: Path, make_batch: MakeBatch
) -> None:
    probe = sink_factory.new_probe(tmp_path)
    first = sink_factory.new_sink(tmp_path)
    first.open()
    first.write(make_batch(EVENTS, [event(1), event(2)]))
    first.close()

    second = sink_factory.new_sink(tmp_path)
    second.open()
    try:
        assert probe.count("events") == 2
        second.write(make_batch(EVENTS, [event(2), event(3)]))  # replay across restarts
        assert probe.count("events") == 3
        assert_stored(probe, EVENTS, event(1))
    finally:
        second.close()
