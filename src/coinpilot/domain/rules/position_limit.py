"""The bot's position cost, buys in flight included, within the per-bot maximum (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    after = c.position_cost + r.notional
    if after <= lim.max_position_usd_per_bot:
        return []
    return reason(
        "MAX_POSITION",
        f"The position would cost ${after:.2f}, over the ${lim.max_position_usd_per_bot} "
        "per-bot maximum; buy less or take profit first.",
    )
