"""IP anonymization, keyed hashes and the hash secret file."""

import hmac
import multiprocessing
import stat

import pytest

from tracker.events.privacy import KeyedHasher, anonymize_ip, load_or_create_secret

SECRET = bytes(range(32))


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::"),
        ("2001:DB8:ABCD:ffff::9", "2001:db8:abcd::"),
        ("::ffff:198.51.100.200", "198.51.100.0"),
    ],
)
def test_anonymize_ip(ip, expected):
    assert anonymize_ip(ip) == expected


def test_anonymize_rejects_non_ip():
    with pytest.raises(ValueError):
        anonymize_ip("example.com")


def test_hash_is_hmac_sha256_of_kind_and_value():
    hasher = KeyedHasher(SECRET)
    expected = hmac.new(SECRET, b"uname:alice", "sha256").hexdigest()
    assert hasher.hash("uname", "  alice ") == expected


def test_email_normalized_before_hashing():
    hasher = KeyedHasher(SECRET)
    assert hasher.hash("email", " Alice@Example.COM ") == hasher.hash("email", "alice@example.com")


def test_phone_reduced_to_digits_and_leading_plus():
    hasher = KeyedHasher(SECRET)
    assert hasher.hash("cell", "+1 (555) 010-9999") == hasher.hash("cell", "+15550109999")
    assert hasher.hash("cell", "555-010-9999") == hasher.hash("cell", "5550109999")
    assert hasher.hash("cell", "+15550109999") != hasher.hash("cell", "15550109999")


def test_kind_separates_equal_texts_and_secret_matters():
    hasher = KeyedHasher(SECRET)
    assert hasher.hash("email", "x") != hasher.hash("uname", "x")
    assert KeyedHasher(b"other-secret-0123").hash("uname", "x") != hasher.hash("uname", "x")


def test_user_names_keep_case():
    hasher = KeyedHasher(SECRET)
    assert hasher.hash("uname", "Alice") != hasher.hash("uname", "alice")


def test_hash_ip_cached_and_bounded():
    hasher = KeyedHasher(SECRET, cache_entries=3)
    for i in range(10):
        ip = f"198.51.100.{i}"
        assert hasher.hash_ip(ip) == hasher.hash("ip", ip)
    assert len(hasher._ip_cache) <= 3


def test_short_secret_refused():
    with pytest.raises(ValueError):
        KeyedHasher(b"short")


def test_secret_created_once_with_private_mode(tmp_path):
    path = tmp_path / "sub" / "hash_secret"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.hex()
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["hash_secret"]  # no temp files left


def test_corrupt_secret_is_an_error_not_replaced(tmp_path):
    path = tmp_path / "hash_secret"
    path.write_text("not hex")
    with pytest.raises(ValueError, match="hex secret"):
        load_or_create_secret(path)
    assert path.read_text() == "not hex"


def _load(path, queue):
    queue.put(load_or_create_secret(path))


def test_racing_processes_agree_on_one_secret(tmp_path):
    path = tmp_path / "hash_secret"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load, args=(path, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert len(set(results)) == 1
    assert results[0].hex() == path.read_text().strip()
