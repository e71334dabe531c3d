import os

import orjson
import pytest

from tracker.atomicfile import write_atomic
from tracker.shipper.cursor import CursorStore, cursor_path
from tracker.shipper.deadletter import DeadLetters, deadletter_path
from tracker.wal import Position


def test_cursor_round_trip(tmp_path):
    store = CursorStore(cursor_path(tmp_path, "duck"))
    assert store.path == tmp_path / "wal" / "cursors" / "duck.json"
    assert store.load() == {}
    positions = {"w0": Position(3, 4096, 120), "w1": Position(1, 32, 0)}
    store.save(positions)
    assert CursorStore(store.path).load() == positions
    assert orjson.loads(store.path.read_bytes())["w0"] == {
        "segment": 3, "offset": 4096, "events": 120}


def test_cursor_save_replaces_and_leaves_no_temporary(tmp_path):
    store = CursorStore(cursor_path(tmp_path, "duck"))
    store.save({"w0": Position(1, 32, 0)})
    store.save({"w0": Position(2, 64, 7)})
    assert store.load() == {"w0": Position(2, 64, 7)}
    assert os.listdir(store.path.parent) == ["duck.json"]


def test_cursor_keeps_old_content_when_the_write_fails(tmp_path):
    store = CursorStore(cursor_path(tmp_path, "duck"))
    store.save({"w0": Position(1, 32, 0)})
    with pytest.raises(TypeError):
        write_atomic(store.path, None)  # fails before the rename
    assert store.load() == {"w0": Position(1, 32, 0)}
    assert os.listdir(store.path.parent) == ["duck.json"]


def test_corrupt_cursor_is_reported(tmp_path):
    path = cursor_path(tmp_path, "duck")
    path.parent.mkdir(parents=True)
    path.write_text('{"w0": {"segment": 1}}')
    with pytest.raises(ValueError, match="w0"):
        CursorStore(path).load()


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden"])
def test_unsafe_sink_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        cursor_path(tmp_path, name)


def test_dead_letters_append_json_lines_and_count(tmp_path):
    dl = DeadLetters(deadletter_path(tmp_path, "duck"), "duck")
    assert dl.count == 0
    assert dl.add("events", []) == 0
    assert not dl.path.exists()
    dl.add("events", [({"eid": "1", "url": "x"}, "bad url"), ({"eid": "2"}, "bad eid")])
    dl.add("payments", [({"pid": "3", "when": object()}, "boom")])
    assert dl.count == 3
    lines = [orjson.loads(x) for x in dl.path.read_bytes().splitlines()]
    assert lines[0] == {"sink": "duck", "table": "events", "error": "bad url",
                        "row": {"eid": "1", "url": "x"}}
    assert lines[1]["error"] == "bad eid"
    assert lines[2]["table"] == "payments"
    assert isinstance(lines[2]["row"]["when"], str)
    assert dl.path == tmp_path / "deadletter" / "duck.jsonl"
