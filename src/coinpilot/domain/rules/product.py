"""The product is known, the right one, and tradable now."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    p = c.product
    if p is None:
        return reason("PRODUCT_UNKNOWN", f"The pair {r.pair} is not a known product; check the pair name.")
    if p.product_id != r.pair:
        return reason("PRODUCT_MISMATCH", f"Product data is for {p.product_id}, not {r.pair}.")
    if p.trading_disabled or p.cancel_only or p.status.lower() != "online":
        return reason(
            "PRODUCT_NOT_TRADABLE", f"The product {r.pair} is not tradable right now; try again later."
        )
    return []
