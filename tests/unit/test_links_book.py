import os
from pathlib import Path

import pytest

from tests.conformance.batches import column_batch
from tracker.links import LinkBook
from tracker.links.sink import LinksSink
from tracker.links.watcher import LinkTable
from tracker.model.tables import REDIRECT_HISTORY


def change(hid: int, ms: int, path: str, action: str = "create",
           host: str = "go.example") -> dict:
    return {"hid": f"0190c2a4-7c3f-7b1e-8f07-{hid:012x}", "changed_at": ms,
            "urlfrom": f"https://{host}{path}", "host": host,
            "urlto": None if action == "delete" else f"https://t.example{path}/{hid}",
            "oid": None, "action": action}


def test_book_round_trips_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    assert LinkBook.load(path).links() == {}  # no file yet
    book = LinkBook()
    assert book.apply([change(1, 10, "/a"), change(2, 20, "/b"), change(3, 30, "/b", "delete"),
                       change(4, 40, "/c", host="links.example")])
    book.save(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = LinkBook.load(path)
    assert sorted(again.links()) == ["go.example/a", "links.example/c"]
    assert [r["urlfrom"] for r in again.for_host("go.example")] == ["https://go.example/a"]
    assert "go.example/b" in again.changes()  # the tombstone is kept
    assert not again.apply([change(1, 10, "/a"), change(2, 20, "/b")])  # replays change nothing


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    path.write_text('{"version": 99, "changes": []}')
    with pytest.raises(ValueError, match="links file"):
        LinkBook.load(path)


def test_sink_takes_only_the_history_and_keeps_the_book(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    sink = LinksSink(path)
    assert sink.tables == (REDIRECT_HISTORY,)
    sink.open()
    sink.write(column_batch(REDIRECT_HISTORY, [change(1, 10, "/a"), change(2, 20, "/b")]))
    sink.write(column_batch(REDIRECT_HISTORY, [change(3, 30, "/a", "delete")]))
    sink.write(column_batch(REDIRECT_HISTORY, [change(1, 10, "/a")]))  # a replay
    sink.close()
    assert sorted(LinkBook.load(path).links()) == ["go.example/b"]
    reopened = LinksSink(path)
    reopened.open()
    reopened.write(column_batch(REDIRECT_HISTORY, [change(4, 40, "/c")]))
    assert sorted(LinkBook.load(path).links()) == ["go.example/b", "go.example/c"]


def test_table_resolves_by_host_without_port_and_exact_path(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    book = LinkBook()
    book.apply([change(1, 10, "/Sale")])
    book.save(path)
    table = LinkTable(path)
    assert table.changed()
    table.reload()
    assert not table.changed()
    assert table.resolve("GO.example:8080", "/Sale")["urlto"] == "https://t.example/Sale/1"
    assert table.resolve("go.example", "/Sale")["hid"].endswith("1")
    assert table.resolve("go.example", "/sale") is None
    assert table.resolve("links.example", "/Sale") is None
    assert table.resolve("[::1]:80", "/Sale") is None


def test_own_changes_count_at_once_and_yield_to_newer_ones_from_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    table = LinkTable(path)
    table.reload()
    table.remember(change(1, 10, "/a"))
    assert table.resolve("go.example", "/a") is not None
    table.reload()  # the file does not have it yet: still in force
    assert table.resolve("go.example", "/a") is not None
    book = LinkBook()
    book.apply([change(1, 10, "/a"), change(2, 20, "/a", "delete")])  # deleted elsewhere
    book.save(path)
    os.utime(path, ns=(1, 1))  # a different mtime even within the same tick
    assert table.changed()
    table.reload()
    assert table.resolve("go.example", "/a") is None
    table.remember(change(3, 30, "/a", "delete"))
    path.unlink()
    assert table.changed()
    table.reload()
    assert table.resolve("go.example", "/a") is None
