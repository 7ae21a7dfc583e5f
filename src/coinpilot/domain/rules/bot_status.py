"""The bot's status blocks entries only: every exit is allowed whatever the status."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import I, Reason, SafetyContext, SafetyRequest
from coinpilot.domain.types import BotStatus


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    s = c.bot_status
    if r.intent is I.EMERGENCY_CLOSE:
        return []
    if r.intent is I.ENTRY and s is not BotStatus.RUNNING:
        return reason("BOT_NOT_RUNNING", f"The bot is {s.value}; start it to let it enter trades.")
    if r.is_exit:
        return []  # reducing risk is never blocked by the bot's status
    if r.intent is I.MANUAL and s is BotStatus.ERROR:
        return reason("BOT_ERROR", "The bot is in ERROR; fix the error (or use emergency close) first.")
    return []
