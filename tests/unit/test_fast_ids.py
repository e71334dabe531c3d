"""uuid7 / normalize_uuid / is_uuid on both implementations, and compiled == twin."""

from __future__ import annotations

import importlib
import itertools
import os
import re
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker._fast import ids_py

CANONICAL_V7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _compiled():
    try:
        return importlib.import_module("tracker._fast.ids")
    except ImportError:
        pytest.skip("tracker._fast.ids is not built (setup.py build_ext --inplace)")


@pytest.fixture(params=["compiled", "twin"])
def ids(request):
    return _compiled() if request.param == "compiled" else ids_py


def unix_ms(text: str) -> int:
    return int(text.replace("-", "")[:12], 16)


def test_uuid7_layout(ids):
    for _ in range(1000):
        text = ids.uuid7()
        assert CANONICAL_V7.fullmatch(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_uuid7_strictly_increasing_for_100k_calls(ids):
    made = [ids.uuid7() for _ in range(100_000)]
    assert all(a < b for a, b in itertools.pairwise(made))
    assert len(set(made)) == len(made)


def test_uuid7_timestamp_is_now(ids):
    generator = ids.Uuid7Generator()  # fresh: no millisecond borrowed by earlier calls
    before = time.time_ns() // 1_000_000
    text = generator.next()
    after = time.time_ns() // 1_000_000
    assert before <= unix_ms(text) <= after


def test_uuid7_random_bits_vary(ids):
    tails = {ids.uuid7()[19:].replace("-", "") for _ in range(1000)}
    # 62 random bits after the variant: collisions in 1000 draws would be a broken source
    assert len(tails) == 1000


def test_twin_counter_overflow_borrows_the_next_millisecond(monkeypatch):
    generator = ids_py.Uuid7Generator()
    monkeypatch.setattr(ids_py.time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    made = [generator.next() for _ in range(5000)]  # more than 4096 ids in one millisecond
    assert all(a < b for a, b in itertools.pairwise(made))
    assert unix_ms(made[0]) == 1_700_000_000_000
    assert unix_ms(made[-1]) > 1_700_000_000_000


def test_twin_stays_increasing_when_the_clock_goes_back(monkeypatch):
    generator = ids_py.Uuid7Generator()
    now = [1_700_000_000_000]
    monkeypatch.setattr(ids_py.time, "time_ns", lambda: now[0] * 1_000_000)
    first = generator.next()
    now[0] -= 10_000
    second = generator.next()
    assert first < second
    assert unix_ms(second) == 1_700_000_000_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_compiled_uuid7_is_fresh_after_fork():
    compiled = _compiled()
    compiled.uuid7()  # fill the random pool in the parent
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next ids and leave without running pytest teardown
        try:
            os.write(write_end, ",".join(compiled.uuid7() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child = os.read(read_end, 4096).decode().split(",")
    os.close(read_end)
    parent = [compiled.uuid7() for _ in range(3)]
    # Without a reseed the child would replay the parent's pool: same random tails.
    assert len(child) == 3
    assert {c[19:] for c in child}.isdisjoint({p[19:] for p in parent})


# --- normalize_uuid / is_uuid ---------------------------------------------------

VALID = "0190f0e2-3c4d-7e5f-8a6b-1c2d3e4f5a6b"


def test_normalize_accepts_any_case(ids):
    assert ids.normalize_uuid(VALID) == VALID
    assert ids.normalize_uuid(VALID.upper()) == VALID
    assert ids.normalize_uuid("0190F0E2-3c4d-7E5F-8a6b-1C2D3e4f5a6b") == VALID
    assert ids.normalize_uuid("00000000-0000-0000-0000-000000000000") is not None
    assert ids.is_uuid(VALID.upper())


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "{" + VALID + "}",
        "urn:uuid:" + VALID,
        VALID.replace("-", ""),
        VALID[:-1],
        VALID + "0",
        VALID[:8] + "_" + VALID[9:],
        "g" + VALID[1:],
        " " + VALID[1:],
        "\uff10" + VALID[1:],  # fullwidth digit zero
        VALID[:35] + "é",
        VALID[:35] + "\ud800",
        VALID[:9] + "-" + VALID[10:],
    ],
)
def test_normalize_rejects(ids, bad):
    assert ids.normalize_uuid(bad) is None
    assert not ids.is_uuid(bad)


@pytest.mark.parametrize("not_text", [None, 5, VALID.encode(), uuid.UUID(VALID)])
def test_normalize_rejects_non_text(ids, not_text):
    assert ids.normalize_uuid(not_text) is None
    assert ids.is_uuid(not_text) is False


@settings(max_examples=300, deadline=None)
@given(value=st.uuids())
def test_normalize_agrees_with_the_uuid_module(value):
    for text in (str(value), str(value).upper()):
        for module in (_compiled(), ids_py):
            assert module.normalize_uuid(text) == str(value)


uuid_like = st.builds(
    lambda base, position, char: base[:position] + char + base[position + 1 :],
    st.uuids().map(str),
    st.integers(0, 36),
    st.one_of(st.characters(), st.sampled_from("-0aAfFgG")),
)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(uuid_like, st.text(max_size=40)))
def test_compiled_matches_twin(text):
    compiled = _compiled()
    assert compiled.normalize_uuid(text) == ids_py.normalize_uuid(text)
    assert compiled.is_uuid(text) == ids_py.is_uuid(text)
