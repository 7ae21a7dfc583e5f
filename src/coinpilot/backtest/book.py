"""One bot's book in a backtest: what the live store would hold, kept in memory.

The live engine reads a bot's position, high-water mark, take-profit rungs, confirmation,
trade counts, last fill, realised P&L by day and week, and recent exits from its tables, and
hands them to the pure domain functions (``decision.decide``, ``safety.validate``,
``loss_lock.loss_lock``, ``daily_loss.daily_loss``). The backtest holds the same facts here and
calls the same functions: no risk rule is re-implemented, only the bookkeeping the store does
(which trades count today, when realised P&L is dated: by its fill time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.daily_loss import daily_loss
from coinpilot.domain.decision import BotView
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import loss_lock
from coinpilot.domain.market import Product
from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.safety import SafetyContext, day_start, week_start
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import BotStatus, Side, TemperatureLevel, TradeIntent, TradingMode
from coinpilot.exchange.simulated import SimulatedFill

ZERO = Decimal(0)
BOT_ID = 1


@dataclass
class BotBook:
    """The per-bot (and, with one bot, per-account) facts a decision and its safety check read."""

    bot_cooldown_minutes: float
    bot_max_tranches: int
    position: PositionState = field(default_factory=PositionState)
    high_water: Decimal | None = None
    rungs_taken: set[int] = field(default_factory=set)
    confirmation: ConfirmationState = field(default_factory=ConfirmationState)
    last_seen: datetime | None = None
    trading_state: TradingState = TradingState.ACTIVE
    last_fill_at: datetime | None = None
    trades_by_day: dict[datetime, int] = field(default_factory=dict)
    realised_by_day: dict[datetime, Decimal] = field(default_factory=dict)
    exits: list[tuple[datetime, Decimal | None]] = field(default_factory=list)  # oldest first
    trade_counter: int = 0

    # -- reads ---------------------------------------------------------------------------------
    def view(self, pair: str, config: object) -> BotView:
        from coinpilot.domain.bot import BotConfig

        assert isinstance(config, BotConfig)
        pos = self.position
        return BotView(
            bot_id=BOT_ID,
            pair=pair,
            status=BotStatus.RUNNING,
            config=config,
            position=pos,
            position_opened_at=pos.opened_at,
            high_water=self.high_water,
            rungs_taken=frozenset(self.rungs_taken),
            has_open_trade=False,
        )

    def realised_since(self, start: datetime, end: datetime | None = None) -> Decimal:
        return sum(
            (v for d, v in self.realised_by_day.items() if d >= start and (end is None or d < end)), ZERO
        )

    def realised_today(self, now: datetime) -> Decimal:
        return self.realised_by_day.get(day_start(now), ZERO)

    def context(
        self,
        now: datetime,
        limits: SafetyLimits,
        product: Product,
        quote_available: Decimal,
        base_available: Decimal,
    ) -> SafetyContext:
        """What ``gather_context`` reads from the tables, from memory (one bot, one account)."""
        today = day_start(now)
        week = week_start(now)
        recent = list(reversed(self.exits[-limits.max_consecutive_losses :]))
        lock = loss_lock(recent, now, limits)
        realised_today = self.realised_today(now)
        pos = self.position
        return SafetyContext(
            now=now,
            mode=TradingMode.MOCK,
            trading_state=self.trading_state,
            bot_status=BotStatus.RUNNING,
            bot_cooldown_minutes=self.bot_cooldown_minutes,
            bot_max_tranches=self.bot_max_tranches,
            product=product,
            trades_today_total=self.trades_by_day.get(today, 0),
            trades_today_bot=self.trades_by_day.get(today, 0),
            last_fill_at=self.last_fill_at,
            has_open_trade=False,
            position_tranches=len(pos.tranches),
            position_base=pos.base_size,
            position_cost=pos.cost,
            total_exposure=pos.cost,
            realized_pnl_today=realised_today,
            consecutive_losses=lock.losses,
            loss_lock_until=lock.until,
            weekly_pnl_position=self.realised_since(week),
            daily_pnl_position=realised_today,
            quote_available=quote_available,
            base_available=base_available,
            entry_temperature=TemperatureLevel.HOT,  # an engine entry is a confirmed BUY: HOT
        )

    # -- writes --------------------------------------------------------------------------------
    def observe(self, now: datetime, bid: Decimal) -> None:
        """The evaluation's bookkeeping: the high-water mark moves with the bid."""
        if self.position.is_flat:
            self.high_water = None
        elif self.high_water is None or bid > self.high_water:
            self.high_water = bid

    def record_fill(
        self,
        now: datetime,
        side: Side,
        intent: TradeIntent,
        fill: SimulatedFill,
        rung: int | None,
        dust_below: Decimal,
    ) -> Decimal | None:
        """Settle a fill on the position (as the order sync does); returns realised P&L of a sell."""
        self.trade_counter += 1
        day = day_start(now)
        self.trades_by_day[day] = self.trades_by_day.get(day, 0) + 1
        self.last_fill_at = now
        amount = FillAmount(fill.price, fill.base_size, fill.fee, fill.value)
        if side is Side.BUY:
            if self.position.is_flat:
                self.rungs_taken = set()
            self.position = apply_entry(self.position, [amount], self.trade_counter, now)
            return None
        self.position, realised = apply_exit(self.position, [amount], dust_below)
        self.realised_by_day[day] = self.realised_by_day.get(day, ZERO) + realised
        self.exits.append((now, realised))
        if rung is not None and intent is TradeIntent.TAKE_PROFIT:
            self.rungs_taken.add(rung)
        if self.position.is_flat:
            self.rungs_taken = set()
            self.high_water = None
        return realised

    def loss_breaker(self, now: datetime, bid: Decimal, limits: SafetyLimits) -> bool:
        """The daily loss breaker (realised today + unrealised at the bid): ACTIVE -> REDUCING."""
        if self.trading_state is not TradingState.ACTIVE:
            return False
        pos = self.position
        marks = [(pos.base_size, pos.cost, bid)] if pos.base_size > 0 else []
        if daily_loss(self.realised_today(now), marks, limits.daily_loss_limit_usd).reached:
            self.trading_state = TradingState.REDUCING
            return True
        return False


def loss_window(limits: SafetyLimits) -> timedelta:
    return timedelta(hours=limits.loss_streak_lookback_hours)
