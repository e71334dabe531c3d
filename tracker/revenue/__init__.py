"""Revenue: payment lines from /tr/v1/ltv/ as `payments` rows (lifetime value is the stores')."""

from tracker.revenue.payments import build_payment_rows, normalize_amount, normalize_currency

__all__ = ["build_payment_rows", "normalize_amount", "normalize_currency"]
