"""This bot's realised loss today within the per-position daily limit (buys only)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.daily_pnl_position > -lim.daily_loss_limit_per_position_usd:
        return []
    return reason(
        "DAILY_POSITION_LOSS_LIMIT",
        f"This position lost ${-c.daily_pnl_position:.2f} today, reaching the "
        f"${lim.daily_loss_limit_per_position_usd} daily limit per position; it can buy again "
        "tomorrow (UTC).",
    )
