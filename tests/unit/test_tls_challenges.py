"""HTTP-01 challenge stores and the response served on the plain port."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from tracker.tls import CHALLENGE_PREFIX, ChallengeStore, FileChallengeStore, challenge_response
from tracker.tls.challenges import Challenges

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTH = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"


@pytest.fixture(params=["memory", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Challenges:
    if request.param == "memory":
        return ChallengeStore()
    return FileChallengeStore(tmp_path / "challenges")


def test_put_get_remove(store: Challenges) -> None:
    assert store.get(TOKEN) is None
    store.put(TOKEN, KEY_AUTH)
    assert store.get(TOKEN) == KEY_AUTH
    store.remove(TOKEN)
    assert store.get(TOKEN) is None
    store.remove(TOKEN)  # removing twice is harmless


@pytest.mark.parametrize("token", ["", "../account.key", "a/b", "a.b", "a b", "..", "x" * 300])
def test_tokens_outside_base64url_are_refused(store: Challenges, token: str) -> None:
    with pytest.raises(ValueError):
        store.put(token, KEY_AUTH)
    assert store.get(token) is None


def test_file_store_is_shared_between_instances(tmp_path: Path) -> None:
    writer = FileChallengeStore(tmp_path / "c")
    reader = FileChallengeStore(tmp_path / "c")  # as in another worker process
    writer.put(TOKEN, KEY_AUTH)
    assert reader.get(TOKEN) == KEY_AUTH
    assert stat.S_IMODE((tmp_path / "c" / TOKEN).stat().st_mode) == 0o644
    writer.remove(TOKEN)
    assert reader.get(TOKEN) is None


def test_file_store_cannot_read_outside_its_directory(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("private")
    reader = FileChallengeStore(tmp_path / "c")
    assert reader.get("../secret") is None
    assert challenge_response(reader, CHALLENGE_PREFIX + "../secret").status == 404


def test_memory_store_under_threads() -> None:
    store = ChallengeStore()

    def work(n: int) -> None:
        for i in range(200):
            store.put(f"t{n}_{i}", f"k{i}")
            store.remove(f"t{n}_{i - 1}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [store.get(f"t{n}_199") for n in range(4)] == ["k199"] * 4
    assert store.get("t0_198") is None


def test_challenge_response(store: Challenges) -> None:
    store.put(TOKEN, KEY_AUTH)
    response = challenge_response(store, CHALLENGE_PREFIX + TOKEN)
    assert response is not None
    assert response.status == 200
    assert response.body == KEY_AUTH.encode()
    assert ("content-type", "text/plain") in response.headers
    missing = challenge_response(store, CHALLENGE_PREFIX + "unknown")
    assert missing is not None and missing.status == 404
    assert challenge_response(store, "/tr/v1/tc") is None
