"""The privacy regulations the tracker knows, and where they apply: the one source of truth.

`GET /tr/v1/ppi/jds` serves `jurisdictions_json()`, the consent gate matches
visitors against `JURISDICTIONS`, and the stores' `jurisdictions` table is seeded
with `seed_rows()` (columns: regulation, name, countries, regions,
requires_consent, rules as JSON text).

A regulation applies to a visitor whose country (ISO 3166-1 alpha-2) is in
`countries` and, when `regions` is not empty, whose region (full ISO 3166-2
code, e.g. "US-CA") is in `regions`. `requires_consent`: events need the
analytics bit (cflags & 4) before cookies or identifiers are stored (opt-in);
False means opt-out or implied-consent rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson


@dataclass(frozen=True)
class Jurisdiction:
    regulation: str  # short unique key, e.g. "GDPR"
    name: str
    countries: tuple[str, ...]
    regions: tuple[str, ...]  # full ISO 3166-2 codes; empty: the whole of each country
    requires_consent: bool
    # Descriptive rules (model, rights, ...): read-only, served as given.
    rules: Mapping[str, Any] = field(default_factory=dict, hash=False)


def _rules(**items: Any) -> Mapping[str, Any]:
    return MappingProxyType(items)


_GDPR_RIGHTS = ("access", "erasure", "portability", "rectification", "objection")

# EU member states and the three other EEA states, where the GDPR applies.
EU_EEA_COUNTRIES = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO",
)

JURISDICTIONS: tuple[Jurisdiction, ...] = (
    Jurisdiction(
        "GDPR", "EU General Data Protection Regulation",
        EU_EEA_COUNTRIES, (), True,
        _rules(model="opt-in", consent_for=("analytics", "marketing"), min_age=16,
               rights=_GDPR_RIGHTS),
    ),
    Jurisdiction(
        "UK_GDPR", "UK General Data Protection Regulation (with PECR)",
        ("GB",), (), True,
        _rules(model="opt-in", consent_for=("analytics", "marketing"), min_age=13,
               rights=_GDPR_RIGHTS),
    ),
    Jurisdiction(
        "CCPA", "California Consumer Privacy Act / California Privacy Rights Act",
        ("US",), ("US-CA",), False,
        _rules(model="opt-out", honor_gpc=True, opt_out_of=("sale", "sharing"),
               rights=("access", "deletion", "correction", "opt-out")),
    ),
    Jurisdiction(
        "LGPD", "Lei Geral de Protecao de Dados (Brazil)",
        ("BR",), (), True,
        _rules(model="opt-in", consent_for=("analytics", "marketing"),
               rights=("access", "deletion", "portability", "correction")),
    ),
    Jurisdiction(
        "PIPEDA", "Personal Information Protection and Electronic Documents Act (Canada)",
        ("CA",), (), False,
        _rules(model="implied", consent_for=("marketing",),
               rights=("access", "correction", "withdraw_consent")),
    ),
)


def _plain(value: Any) -> Any:
    """A fresh JSON-ready copy: mappings become dicts, tuples lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def to_json(jurisdiction: Jurisdiction) -> dict[str, Any]:
    return {
        "regulation": jurisdiction.regulation,
        "name": jurisdiction.name,
        "countries": list(jurisdiction.countries),
        "regions": list(jurisdiction.regions),
        "requires_consent": jurisdiction.requires_consent,
        "rules": _plain(jurisdiction.rules),
    }


def jurisdictions_json(
    jurisdictions: tuple[Jurisdiction, ...] = JURISDICTIONS,
) -> list[dict[str, Any]]:
    """The `GET /tr/v1/ppi/jds` body: one object per regulation, fresh copies."""
    return [to_json(j) for j in jurisdictions]


SeedRow = tuple[str, str, list[str], list[str], bool, str]


def seed_rows(jurisdictions: tuple[Jurisdiction, ...] = JURISDICTIONS) -> list[SeedRow]:
    """Rows for the stores' `jurisdictions` table, in its column order (rules as JSON text)."""
    return [
        (j.regulation, j.name, list(j.countries), list(j.regions), j.requires_consent,
         orjson.dumps(_plain(j.rules)).decode())
        for j in jurisdictions
    ]
