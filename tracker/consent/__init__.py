"""Consent: flags, the regulations by place, the per-request gate, consent records."""

from tracker.consent.flags import (
    ANALYTICS,
    CONSENT_COOKIE,
    MARKETING,
    NECESSARY,
    PREFERENCES,
    effective_cflags,
    event_cflags,
    has_bits,
    parse_consent_cookie,
)
from tracker.consent.gate import ConsentGate, GateDecision
from tracker.consent.jurisdictions import (
    JURISDICTIONS,
    Jurisdiction,
    jurisdictions_json,
    seed_rows,
)
from tracker.consent.places import Jurisdictions
from tracker.consent.records import build_agreement

__all__ = [
    "ANALYTICS",
    "CONSENT_COOKIE",
    "JURISDICTIONS",
    "MARKETING",
    "NECESSARY",
    "PREFERENCES",
    "ConsentGate",
    "GateDecision",
    "Jurisdiction",
    "Jurisdictions",
    "build_agreement",
    "effective_cflags",
    "event_cflags",
    "has_bits",
    "jurisdictions_json",
    "parse_consent_cookie",
    "seed_rows",
]
