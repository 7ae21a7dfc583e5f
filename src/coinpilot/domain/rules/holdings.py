"""A sell never exceeds the bot's position or the available coin balance (unknown: refused)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if not r.is_exit or r.base_size is None:
        return None
    out: list[Reason] = []
    if r.base_size > c.position_base:
        out += reason(
            "EXCEEDS_POSITION",
            f"Selling {r.base_size} is more than the bot's position of {c.position_base}.",
        )
    if c.base_available is None:
        out += reason("BALANCE_UNKNOWN", "The coin balance is unknown; retry when it is available.")
    elif r.base_size > c.base_available:
        out += reason(
            "INSUFFICIENT_BASE",
            f"Selling {r.base_size} is more than the {c.base_available} available.",
        )
    return out
