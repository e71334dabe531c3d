"""Matching places (country, region) against the regulations."""

import pytest

from tracker.consent import Jurisdiction, Jurisdictions


@pytest.fixture(scope="module")
def jds() -> Jurisdictions:
    return Jurisdictions()


def names(found) -> list[str]:
    return [j.regulation for j in found]


@pytest.mark.parametrize(("country", "region", "expected"), [
    ("DE", None, ["GDPR"]), ("de", "BE", ["GDPR"]), ("NO", None, ["GDPR"]),
    ("GB", "ENG", ["UK_GDPR"]),
    ("US", "CA", ["CCPA"]), ("US", "US-CA", ["CCPA"]), ("us", "us-ca", ["CCPA"]),
    ("US", "WA", []), ("US", None, []), ("US", "", []),
    ("BR", "SP", ["LGPD"]), ("CA", "QC", ["PIPEDA"]),
    ("JP", "13", []), ("CH", None, []), (None, None, []), ("", "CA", []),
], ids=str)
def test_applicable(jds: Jurisdictions, country, region, expected) -> None:
    assert names(jds.applicable(country, region)) == expected


@pytest.mark.parametrize(("country", "region", "required"), [
    ("FR", None, True), ("GB", None, True), ("BR", None, True),
    ("US", "CA", False),  # opt-out rules: no consent needed before analytics
    ("CA", "ON", False),  # implied consent
    ("US", "TX", False), ("JP", None, False),
])
def test_requires_consent(jds: Jurisdictions, country, region, required) -> None:
    assert jds.requires_consent(country, region) is required


def test_unknown_place_is_not_required_by_default(jds: Jurisdictions) -> None:
    assert jds.requires_consent(None, None) is False
    assert jds.requires_consent("", "CA") is False


def test_unknown_place_can_be_made_strict() -> None:
    strict = Jurisdictions(unknown_requires_consent=True)
    assert strict.requires_consent(None, None) is True
    assert strict.requires_consent("  ", None) is True
    assert strict.requires_consent("JP", None) is False  # known and unregulated


def test_a_regional_opt_in_regulation_applies_only_in_its_region() -> None:
    custom = Jurisdictions([
        Jurisdiction("QC25", "Quebec Law 25", ("CA",), ("CA-QC",), True),
        Jurisdiction("PIPEDA", "PIPEDA", ("CA",), (), False),
    ])
    assert names(custom.applicable("CA", "QC")) == ["QC25", "PIPEDA"]
    assert custom.requires_consent("CA", "QC") is True
    assert custom.requires_consent("CA", "CA-QC") is True
    assert custom.requires_consent("CA", "ON") is False
    assert custom.requires_consent("CA", None) is False
