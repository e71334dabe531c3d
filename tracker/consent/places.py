"""Which regulations apply to a visitor's place (country and region).

Places come from GeoIP or from values the client declared, so both region
forms are accepted: the bare subdivision code GeoLite2 gives ("CA", with
country "US") and the full ISO 3166-2 code ("US-CA"); case does not matter.

An unknown place (no country) applies no regulation unless
`unknown_requires_consent` is set: without a GeoIP database every event would
otherwise lose its cookies. Sites that must be strict everywhere set it, or
turn on the global `Cookieless` mode.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracker.consent.jurisdictions import JURISDICTIONS, Jurisdiction


def full_region(country: str, region: str | None) -> str | None:
    """The full ISO 3166-2 code: ("US", "ca") and ("US", "us-ca") both give "US-CA"."""
    if not region:
        return None
    code = region.strip().upper()
    return code if code.startswith(country + "-") else f"{country}-{code}"


class Jurisdictions:
    """Matches places against a set of regulations (by default the seeded ones)."""

    def __init__(self, items: Iterable[Jurisdiction] = JURISDICTIONS, *,
                 unknown_requires_consent: bool = False):
        self._items = tuple(items)
        self._unknown_requires_consent = unknown_requires_consent
        # country -> (jurisdiction, its regions or None for the whole country)
        by_country: dict[str, list[tuple[Jurisdiction, frozenset[str] | None]]] = {}
        for j in self._items:
            regions = frozenset(r.upper() for r in j.regions) or None
            for country in j.countries:
                by_country.setdefault(country.upper(), []).append((j, regions))
        self._by_country = {c: tuple(entries) for c, entries in by_country.items()}

    @property
    def items(self) -> tuple[Jurisdiction, ...]:
        return self._items

    def applicable(self, country: str | None, region: str | None) -> tuple[Jurisdiction, ...]:
        """The regulations that apply at this place (a regional one needs a matching region)."""
        if not country:
            return ()
        code = country.strip().upper()
        entries = self._by_country.get(code)
        if entries is None:
            return ()
        place_region = full_region(code, region)
        return tuple(j for j, regions in entries
                     if regions is None or place_region in regions)

    def requires_consent(self, country: str | None, region: str | None) -> bool:
        """Whether events at this place need the analytics bit for cookies and identifiers."""
        if not country or not country.strip():
            return self._unknown_requires_consent
        return any(j.requires_consent for j in self.applicable(country, region))
