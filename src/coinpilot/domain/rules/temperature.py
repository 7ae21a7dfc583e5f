"""With a minimum entry temperature, a buy needs the bot at least that warm (unknown: refused)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest
from coinpilot.domain.temperature import level_rank


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    minimum = lim.min_entry_temperature
    if r.is_exit or minimum is None:
        return None
    if c.entry_temperature is None:
        return reason(
            "TEMPERATURE_UNKNOWN",
            "The bot's temperature is unknown (not evaluated yet); evaluate it before buying.",
        )
    if level_rank(c.entry_temperature) >= level_rank(minimum):
        return []
    return reason(
        "TOO_COOL",
        f"The bot is {c.entry_temperature.value} for a buy; opening or adding to a position needs "
        f"at least {minimum.value}. Wait for a stronger buy signal.",
    )
