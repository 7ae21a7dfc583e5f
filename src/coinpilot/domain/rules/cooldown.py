"""The cooldown after the bot's last fill (buys only): the longer of the floor and the bot's own."""

from __future__ import annotations

from datetime import UTC

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest
from coinpilot.domain.usage import cooldown_minutes, cooldown_ready_at


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    ready = cooldown_ready_at(c.last_fill_at, lim, c.bot_cooldown_minutes)
    if ready is None or c.now >= ready:
        return []
    minutes = cooldown_minutes(lim, c.bot_cooldown_minutes)
    return reason(
        "COOLDOWN",
        f"Cooling down for {minutes:g} minutes after the last fill; "
        f"next trade possible at {ready.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC.",
    )
