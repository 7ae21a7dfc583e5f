"""At most min(limits, bot) tranches in one position (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest
from coinpilot.domain.usage import tranche_limit


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    most = tranche_limit(lim, c.bot_max_tranches)
    if c.position_tranches < most:
        return []
    return reason(
        "MAX_TRANCHES",
        f"The position already has {most} tranches, the maximum; wait for an exit before adding.",
    )
