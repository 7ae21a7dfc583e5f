"""Exposure across bots, buys in flight included, within the total maximum (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    after = c.total_exposure + r.notional
    if after <= lim.max_total_exposure_usd:
        return []
    return reason(
        "MAX_EXPOSURE",
        f"Exposure across bots would be ${after:.2f}, over the ${lim.max_total_exposure_usd} maximum.",
    )
