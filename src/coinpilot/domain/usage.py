"""How much of today's safety allowance a bot has used, by the rules the safety check applies.

The dashboard, the CLI and the API show "trades n/N", "cooldown left", "losses in a row" and
"exposure against its cap". Those figures must be the ones the safety check would act on, so the
check (``domain/safety.py``) and these read models share the functions below: the cooldown's
length and end, what ends a loss streak, which tranche limit applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from coinpilot.domain.limits import SafetyLimits

ZERO = Decimal(0)


def cooldown_minutes(limits: SafetyLimits, bot_cooldown_minutes: float) -> float:
    """The cooldown after a fill: the configured floor or the bot's own, whichever is longer."""
    return max(float(limits.cooldown_minutes), float(bot_cooldown_minutes))


def cooldown_ready_at(
    last_fill_at: datetime | None, limits: SafetyLimits, bot_cooldown_minutes: float
) -> datetime | None:
    """When the bot may buy again after its last fill (None: it never filled)."""
    if last_fill_at is None:
        return None
    return last_fill_at + timedelta(minutes=cooldown_minutes(limits, bot_cooldown_minutes))


def cooldown_remaining(
    now: datetime, last_fill_at: datetime | None, limits: SafetyLimits, bot_cooldown_minutes: float
) -> timedelta:
    """Time left until the cooldown ends (zero when it has ended or never started)."""
    ready = cooldown_ready_at(last_fill_at, limits, bot_cooldown_minutes)
    if ready is None or now >= ready:
        return timedelta(0)
    return ready - now


def ends_loss_streak(realized_pnl: Decimal | None) -> bool:
    """A loss streak ends at the first exit that did not lose (or whose P&L is unknown)."""
    return realized_pnl is None or realized_pnl >= 0


def loss_streak(realized_newest_first: Iterable[Decimal | None]) -> int:
    """Losing exits in a row, newest first, until the first exit that ends the streak."""
    n = 0
    for pnl in realized_newest_first:
        if ends_loss_streak(pnl):
            break
        n += 1
    return n


def tranche_limit(limits: SafetyLimits, bot_max_tranches: int) -> int:
    """The tighter of the global and the bot's own tranche limit."""
    return min(limits.max_tranches, bot_max_tranches)


@dataclass(frozen=True)
class BotUsage:
    """One bot's use of its allowance today (what the buy check compares against its limits)."""

    trades_today: int
    max_trades_today: int
    cooldown_minutes: float
    cooldown_remaining_seconds: float
    consecutive_losses: int
    max_consecutive_losses: int
    realized_pnl_today: Decimal
    daily_loss_limit: Decimal
    position_cost: Decimal
    max_position_cost: Decimal
    tranches: int
    max_tranches: int

    @property
    def trades_left(self) -> int:
        return max(0, self.max_trades_today - self.trades_today)


def bot_usage(
    *,
    now: datetime,
    limits: SafetyLimits,
    bot_cooldown_minutes: float,
    bot_max_tranches: int,
    trades_today: int,
    last_fill_at: datetime | None,
    consecutive_losses: int,
    realized_pnl_today: Decimal,
    position_cost: Decimal,
    open_tranches: int,
) -> BotUsage:
    remaining = cooldown_remaining(now, last_fill_at, limits, bot_cooldown_minutes)
    return BotUsage(
        trades_today=trades_today,
        max_trades_today=limits.max_daily_trades_per_bot,
        cooldown_minutes=cooldown_minutes(limits, bot_cooldown_minutes),
        cooldown_remaining_seconds=remaining.total_seconds(),
        consecutive_losses=consecutive_losses,
        max_consecutive_losses=limits.max_consecutive_losses,
        realized_pnl_today=realized_pnl_today,
        daily_loss_limit=limits.daily_loss_limit_per_position_usd,
        position_cost=position_cost,
        max_position_cost=limits.max_position_usd_per_bot,
        tranches=open_tranches,
        max_tranches=tranche_limit(limits, bot_max_tranches),
    )
