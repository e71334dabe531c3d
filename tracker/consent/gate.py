"""The per-request consent decision (SPEC 3.4): cookieless form and marketing forwarding.

- Cookieless form: where the visitor's place requires consent and the analytics
  bit (4) is not set (or no choice is recorded), the event is stored without
  cookies or identifiers. With the global `Cookieless` mode every event is.
- Marketing forwarding (e.g. to Facebook) needs the marketing bit (8), wherever
  the visitor is: forwarding hands data to a third party, which opt-out and
  implied-consent rules also let the visitor refuse. The analytics bit is not
  needed for it: the two are separate choices in consent banners.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.consent.flags import ANALYTICS, MARKETING, has_bits
from tracker.consent.places import Jurisdictions


@dataclass(frozen=True, slots=True)
class GateDecision:
    cookieless_form: bool  # pass to EventBuilder.build(cookieless_form=...)
    marketing_allowed: bool
    consent_required: bool  # the place requires opt-in consent (for logs and tests)


class ConsentGate:
    """Decides per request; `cookieless` is the global `Cookieless` setting."""

    def __init__(self, jurisdictions: Jurisdictions | None = None, *,
                 cookieless: bool = False):
        self._jurisdictions = jurisdictions if jurisdictions is not None else Jurisdictions()
        self._cookieless = cookieless

    @property
    def jurisdictions(self) -> Jurisdictions:
        return self._jurisdictions

    def decide(self, cflags: int | None, country: str | None,
               region: str | None) -> GateDecision:
        required = self._jurisdictions.requires_consent(country, region)
        cookieless = self._cookieless or (required and not has_bits(cflags, ANALYTICS))
        return GateDecision(cookieless_form=cookieless,
                            marketing_allowed=has_bits(cflags, MARKETING),
                            consent_required=required)
