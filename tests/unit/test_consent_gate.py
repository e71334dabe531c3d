"""ConsentGate: cookieless form and marketing forwarding per visitor (SPEC 3.4)."""

import pytest

from tracker.consent import ConsentGate, GateDecision, Jurisdictions
from tracker.events import BuilderConfig, EventBuilder, RequestContext

SECRET = bytes(range(32))
NOW = 1_700_000_000_000


def make_ctx(**kwargs) -> RequestContext:
    base = dict(client_ip="203.0.113.77", user_agent="Mozilla/5.0 (X11; Linux x86_64)",
                accept_language="de-CH,de;q=0.9,en;q=0.8", host="track.example",
                tls=False, now_ms=NOW)
    base.update(kwargs)
    return RequestContext(**base)


@pytest.fixture(scope="module")
def gate() -> ConsentGate:
    return ConsentGate()


@pytest.mark.parametrize(("cflags", "country", "region", "cookieless", "marketing"), [
    # Opt-in places: the analytics bit decides.
    (None, "DE", None, True, False),
    (0, "DE", None, True, False),
    (1 | 2, "FR", None, True, False),
    (4, "DE", None, False, False),
    (1 | 4, "GB", "ENG", False, False),
    (8, "BR", None, True, True),  # marketing alone: forwarding yes, identifiers no
    (15, "DE", None, False, True),
    (4 | 1024, "IE", None, False, False),  # site bits change nothing
    # Opt-out or implied consent, or no regulation: identifiers without the bit.
    (None, "US", "CA", False, False),
    (0, "CA", "QC", False, False),
    (None, "JP", None, False, False),
    (8, "US", "TX", False, True),
    # Unknown place: not required (the documented default).
    (None, None, None, False, False),
])
def test_decisions(gate, cflags, country, region, cookieless, marketing) -> None:
    decision = gate.decide(cflags, country, region)
    assert decision.cookieless_form is cookieless
    assert decision.marketing_allowed is marketing


def test_decision_tells_whether_consent_was_required(gate) -> None:
    assert gate.decide(4, "DE", None) == GateDecision(False, False, True)
    assert gate.decide(None, "US", "CA") == GateDecision(False, False, False)


def test_global_cookieless_mode_always_gives_the_cookieless_form() -> None:
    gate = ConsentGate(cookieless=True)
    assert gate.decide(15, "US", None).cookieless_form is True
    assert gate.decide(15, "DE", None) == GateDecision(True, True, True)


def test_strict_unknown_places() -> None:
    gate = ConsentGate(Jurisdictions(unknown_requires_consent=True))
    assert gate.decide(None, None, None).cookieless_form is True
    assert gate.decide(4, None, None).cookieless_form is False


def test_decision_drives_the_event_builder(gate) -> None:
    """What the routes will do: the builder drops cookies when the gate says so."""
    builder = EventBuilder(BuilderConfig.from_secret(SECRET))
    ctx = make_ctx(cookie_vid="0190a6f2-7c3b-7d4e-8f00-123456789abc")
    denied = gate.decide(1, "DE", None)
    row, cookies = builder.build({"ename": "view"}, ctx,
                                 cookieless_form=denied.cookieless_form)
    assert cookies.set_cookie == ()
    assert row["vid"] != ctx.cookie_vid
    granted = gate.decide(5, "DE", None)
    row, cookies = builder.build({"ename": "view"}, ctx,
                                 cookieless_form=granted.cookieless_form)
    assert row["vid"] == ctx.cookie_vid and cookies.set_cookie
