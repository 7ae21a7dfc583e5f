"""One unfinished order per bot; an order the sync gave up on blocks entries, never exits."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    out: list[Reason] = []
    if c.has_open_trade:
        out += reason(
            "OPEN_TRADE_EXISTS",
            "This bot already has an unfinished order; wait until it is filled or cancelled.",
        )
    if c.trade_needs_attention and not r.is_exit:
        out += reason(
            "TRADE_NEEDS_ATTENTION",
            "An earlier order of this bot could not be settled and needs attention; resolve it "
            "before buying more (exits still sell the settled position).",
        )
    return out
