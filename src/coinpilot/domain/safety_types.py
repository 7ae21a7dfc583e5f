"""The values the safety service works on: a request, the context it is judged in, the decision.

Kept apart from the rules in :mod:`coinpilot.domain.safety` so the rules module reads as the
list of checks it is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from coinpilot.domain.market import Product
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import BotStatus, Side, TemperatureLevel, TradeIntent, TradingMode

I = TradeIntent  # noqa: E741
_AUTO_EXITS = frozenset({I.SIGNAL_EXIT, I.TAKE_PROFIT, I.STOP_LOSS, I.TRAILING_STOP})


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    return value


@dataclass(frozen=True)
class SafetyRequest:
    bot_id: int
    pair: str
    side: Side
    intent: TradeIntent
    quote_size: Decimal | None
    base_size: Decimal | None
    price: Decimal  # current ask (buy) / bid (sell), to estimate the notional

    @property
    def notional(self) -> Decimal:
        """Estimated quote value of the order."""
        if self.quote_size is not None:
            return self.quote_size
        if self.base_size is not None:
            return self.base_size * self.price
        raise ValueError("the request has neither a quote size nor a base size")

    @property
    def is_exit(self) -> bool:
        """A risk-reducing exit: a SELL of an existing position (any intent)."""
        return self.side is Side.SELL

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(self))


@dataclass(frozen=True)
class SafetyContext:
    now: datetime
    mode: TradingMode
    trading_state: TradingState  # as this mode sees it (see domain.trading_state)
    bot_status: BotStatus
    bot_cooldown_minutes: float
    bot_max_tranches: int
    product: Product | None
    trades_today_total: int
    trades_today_bot: int
    last_fill_at: datetime | None
    has_open_trade: bool
    position_tranches: int
    position_base: Decimal
    position_cost: Decimal
    total_exposure: Decimal
    realized_pnl_today: Decimal
    consecutive_losses: int
    weekly_pnl_position: Decimal
    quote_available: Decimal | None
    base_available: Decimal | None
    daily_pnl_position: Decimal = Decimal(0)  # this bot's realised P&L today
    # Until when the consecutive-loss lock refuses this bot's buys (domain/loss_lock.py).
    loss_lock_until: datetime | None = None
    # An unfinished trade of the bot that the order sync gave up on (needs a person): it blocks
    # entries, never exits (they sell only the settled position).
    trade_needs_attention: bool = False
    # The bot's temperature for a buy (FROZEN when it leans to sell); None when unknown.
    entry_temperature: TemperatureLevel | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(self))


@dataclass(frozen=True)
class Reason:
    code: str
    message: str  # readable by a user; says what to do


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    checks: tuple[str, ...]
    reduce_trading: bool = False  # the daily loss breaker: ACTIVE -> REDUCING

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(self))


# Remembered: the kernel asks for the same instant's day ~16 times per evaluated tick (every
# event rolls its counters first). Equal aware datetimes are the same instant: the same UTC day.
@functools.lru_cache(maxsize=256)
def day_start(now: datetime) -> datetime:
    """Start of the UTC day containing ``now`` ("today" for daily limits)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@functools.lru_cache(maxsize=256)
def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week containing ``now`` ("this week" for weekly limits)."""
    start = day_start(now)
    return start - timedelta(days=start.weekday())
