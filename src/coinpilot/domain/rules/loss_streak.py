"""The consecutive-loss lock refuses buys until it expires or a person resumes the bot.

What locks and until when: :mod:`coinpilot.domain.loss_lock`.
"""

from __future__ import annotations

from datetime import UTC

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.loss_lock_until is None or c.now >= c.loss_lock_until:
        return []
    return reason(
        "CONSECUTIVE_LOSSES",
        f"The bot had {c.consecutive_losses} losing exits in a row; its buys are locked until "
        f"{c.loss_lock_until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC. Review its settings; "
        "resuming the bot (start) clears the lock.",
    )
