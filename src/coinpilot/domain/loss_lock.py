"""The consecutive-loss lock: a protection that expires (freqtrade's StoplossGuard is the model).

``max_consecutive_losses`` losing exits in a row, all within the lookback window, lock the bot's
entries (engine and manual buys) until ``lock`` after the newest of them. The lock expires by
itself; a person resuming the bot clears it earlier (losing exits before the resume no longer
count). Exits are never locked: selling reduces risk.

Why a lock instead of the old pause: the streak used to be recomputed from the whole history and
only a winning exit ended it, but a bot that cannot enter can never win, so a resumed bot was
refused and paused again at once. A window and a duration make the rule end.

Pure: the store hands over the newest realised exits (time and P&L, newest first) since
``window_start``; this module decides what counts and until when the bot is locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from coinpilot.domain.evolve import build
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.usage import loss_streak

__all__ = ["LossLock", "leading_losses", "loss_lock", "window_start"]


@dataclass(frozen=True)
class LossLock:
    losses: int  # losing exits in a row counted (within the window, since the last resume)
    until: datetime | None  # entries are locked until then (None: no lock was triggered)

    def active(self, now: datetime) -> bool:
        return self.until is not None and now < self.until


def window_start(now: datetime, limits: SafetyLimits, cleared_at: datetime | None) -> datetime:
    """The oldest exit that can count: the lookback window, or the last resume if later."""
    start = now - timedelta(hours=limits.loss_streak_lookback_hours)
    return max(start, cleared_at) if cleared_at is not None else start


def leading_losses(exits: Sequence[tuple[datetime, Decimal | None]]) -> int:
    """Losing exits in a row, newest first, until the first exit that ends the streak
    (:func:`coinpilot.domain.usage.loss_streak`: the one rule for what ends a streak)."""
    return loss_streak(pnl for _at, pnl in exits)


def loss_lock(
    exits: Sequence[tuple[datetime, Decimal | None]],
    now: datetime,
    limits: SafetyLimits,
    cleared_at: datetime | None = None,
) -> LossLock:
    """The lock from the newest realised exits (newest first). Exits older than the window or
    than the last resume are ignored, whatever the caller passed."""
    start = window_start(now, limits, cleared_at)
    counted = [(at, pnl) for at, pnl in exits if at >= start and (cleared_at is None or at > cleared_at)]
    losses = leading_losses(counted)
    if losses < limits.max_consecutive_losses:
        return build(LossLock, losses=losses, until=None)
    newest = counted[0][0]
    return build(LossLock, losses=losses, until=newest + timedelta(hours=limits.loss_streak_lock_hours))
