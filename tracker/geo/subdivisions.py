"""Subdivision codes for databases that name subdivisions without coding them (DB-IP Lite).

Only the United States is covered: it is the one country where a seeded
jurisdiction (CCPA/CPRA, US-CA) depends on the region. Codes are ISO 3166-2
without the country prefix, like GeoLite2's `subdivisions[].iso_code`.
"""

from __future__ import annotations

_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR",
    "California": "CA", "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE",
    "District of Columbia": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI",
    "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}

_BY_COUNTRY = {"US": _US_STATES}


def subdivision_code(country: str | None, name: str) -> str | None:
    """The code of subdivision `name` in `country`, when known ("California" -> "CA")."""
    names = _BY_COUNTRY.get(country.upper()) if country else None
    return names.get(name) if names is not None else None
