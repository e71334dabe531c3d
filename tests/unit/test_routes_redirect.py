import pytest

from tracker.routes.redirect import redirect_refusal

DOMAINS = frozenset({"shop.example", "go.example"})


@pytest.mark.parametrize("target", [
    "/checkout?step=2",
    "https://shop.example/sale",
    "http://GO.example/x?utm_source=mail",
    "https://shop.example./trailing-dot",
])
def test_allowed_targets(target: str) -> None:
    assert redirect_refusal(target, DOMAINS) is None


@pytest.mark.parametrize("target", [
    "",
    "//evil.example/",
    "https://evil.example/",
    "https://shop.example.evil.example/",
    "https://evil.example@shop.example/",
    "https://shop.example@evil.example/",
    "javascript:alert(1)",
    "ftp://shop.example/",
    "https://shop.example/\r\nSet-Cookie: x=1",
    "/\\evil.example",
    "https:///evil.example",
    "evil.example",
])
def test_refused_targets(target: str) -> None:
    reason = redirect_refusal(target, DOMAINS)
    assert reason and isinstance(reason, str)
