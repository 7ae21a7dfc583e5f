"""This bot's realised loss this week within the per-position weekly limit (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.weekly_pnl_position > -lim.weekly_loss_limit_per_position_usd:
        return []
    return reason(
        "WEEKLY_LOSS_LIMIT",
        f"This position lost ${-c.weekly_pnl_position:.2f} this week, reaching the "
        f"${lim.weekly_loss_limit_per_position_usd} weekly limit; it can buy again on Monday.",
    )
