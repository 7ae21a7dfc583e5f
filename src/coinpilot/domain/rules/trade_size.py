"""Our own per-trade size limits (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    n = r.notional
    if n > lim.max_trade_usd:
        return reason(
            "MAX_TRADE_SIZE",
            f"The order of about ${n:.2f} exceeds the ${lim.max_trade_usd} per-trade limit; buy less.",
        )
    if n < lim.min_trade_usd:
        return reason(
            "MIN_TRADE_SIZE",
            f"The order of about ${n:.2f} is below the ${lim.min_trade_usd} minimum trade; buy more.",
        )
    return []
