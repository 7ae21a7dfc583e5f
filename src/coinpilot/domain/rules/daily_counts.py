"""Trades per UTC day, for the account and per bot (buys only).

Which trades count is :mod:`coinpilot.domain.trade_facts`'s to say; the context carries the counts.
"""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    out: list[Reason] = []
    if c.trades_today_total >= lim.max_daily_trades:
        out += reason(
            "DAILY_TRADES",
            f"All {lim.max_daily_trades} trades for today are used; trading resumes after 00:00 UTC.",
        )
    if c.trades_today_bot >= lim.max_daily_trades_per_bot:
        out += reason(
            "DAILY_TRADES_BOT",
            f"This bot used its {lim.max_daily_trades_per_bot} trades for today; "
            "it can trade again after 00:00 UTC.",
        )
    return out
