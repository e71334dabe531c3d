import pytest

from tracker.links import LinkError, change_row, check_urlto, link_key, parse_urlfrom
from tracker.links.changes import is_newer, newest_changes, public_link, row_key

DOMAINS = frozenset({"go.example", "links.example"})


@pytest.mark.parametrize("url, expected", [
    ("https://go.example/sale", ("go.example", "/sale")),
    ("http://GO.example./Sale-2026", ("go.example", "/Sale-2026")),
    ("https://links.example/a/b%20c", ("links.example", "/a/b%20c")),
])
def test_urlfrom_accepted(url: str, expected: tuple[str, str]) -> None:
    assert parse_urlfrom(url, DOMAINS) == expected


@pytest.mark.parametrize("url, words", [
    (None, "required"),
    ("", "required"),
    (5, "required"),
    ("https://other.example/x", "Domains"),
    ("https://go.example.evil.example/x", "Domains"),
    ("https://go.example", "path"),
    ("https://go.example/", "path"),
    ("https://go.example//x", "path"),
    ("https://go.example/x?a=1", "query"),
    ("https://go.example/x#top", "fragment"),
    ("https://go.example/x?", "query"),
    ("https://user@go.example/x", "user info"),
    ("https://go.example:8443/x", "port"),
    ("ftp://go.example/x", "http(s)"),
    ("go.example/x", "http(s)"),
    ("https://go.example/a b", "characters"),
    ("https://go.example/a\r\nX: y", "characters"),
    ("https://go.example/" + "x" * 3000, "longer"),
])
def test_urlfrom_refused(url: object, words: str) -> None:
    with pytest.raises(LinkError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_urlfrom(url, DOMAINS)


def test_urlto_must_be_absolute_http() -> None:
    assert check_urlto("https://shop.example/x?utm_source=a") == "https://shop.example/x?utm_source=a"
    for bad in ("/relative", "javascript:alert(1)", "https://a@b.example/", "data:text/html,x",
                "https:///nohost", "", None):
        with pytest.raises(LinkError):
            check_urlto(bad)


def test_change_rows_and_keys() -> None:
    row = change_row("go.example", "/Sale", "create", "https://shop.example/", "Org")
    assert row["urlfrom"] == "https://go.example/Sale" and row["action"] == "create"
    assert row_key(row) == link_key("GO.example.", "/Sale") == "go.example/Sale"
    gone = change_row("go.example", "/Sale", "delete", "https://ignored.example/")
    assert gone["urlto"] is None
    assert public_link(row) == {"urlfrom": "https://go.example/Sale",
                                "urlto": "https://shop.example/", "oid": "Org",
                                "updated_at": row["changed_at"]}
    with pytest.raises(ValueError):
        change_row("go.example", "/x", "rename")


def _row(hid: str, ms: int, action: str = "create", path: str = "/a") -> dict:
    return {"hid": hid, "changed_at": ms, "urlfrom": f"https://go.example{path}",
            "host": "go.example", "urlto": "https://t.example/" + hid, "oid": None,
            "action": action}


def test_the_newer_change_wins_whatever_the_order_it_comes_in() -> None:
    old, new, tie_later = _row("01", 1000), _row("02", 2000), _row("03", 2000)
    assert is_newer(new, old) and not is_newer(old, new) and is_newer(old, None)
    assert is_newer(tie_later, new)  # same millisecond: the larger (later) id
    for order in ([old, new, tie_later], [tie_later, old, new], [new, tie_later, old]):
        assert newest_changes(order)["go.example/a"]["hid"] == "03"


def test_a_replayed_create_does_not_undo_a_delete() -> None:
    create, delete = _row("01", 1000), _row("02", 2000, "delete")
    newest = newest_changes([create, delete])
    newest_changes([create], into=newest)  # the log replayed after a crash
    assert newest["go.example/a"]["action"] == "delete"


def test_rows_without_null_columns_are_completed() -> None:
    row = _row("01", 1000)
    del row["oid"]
    assert newest_changes([row])["go.example/a"]["oid"] is None
