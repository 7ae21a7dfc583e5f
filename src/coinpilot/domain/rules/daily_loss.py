"""The daily loss limit on realised P&L today (buys only); reaching it trips the loss breaker."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.realized_pnl_today > -lim.daily_loss_limit_usd:
        return []
    return reason(
        "DAILY_LOSS_LIMIT",
        f"Realised loss today (${-c.realized_pnl_today:.2f}) reached the "
        f"${lim.daily_loss_limit_usd} daily limit; trading is REDUCING (exits only). "
        "Review before setting it back to ACTIVE.",
    )
