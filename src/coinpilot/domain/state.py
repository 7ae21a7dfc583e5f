"""The explicit state a decision depends on: one :class:`BotState` per bot, one
:class:`AccountState` per trading mode.

Why explicit: the figures a decision needs (rungs taken, high-water mark, confirmation, today's
counters, the loss lock, the order in flight) used to be rebuilt from tables in several places
that could disagree. Here they are plain frozen values; the pure functions of
:mod:`coinpilot.domain.kernel` advance them (on an evaluation, a quote, an accepted order, a fill,
a final order, a day boundary) and every driver holds them its own way: the live engine loads them
from the database in bulk (``store/``), the backtester keeps them in memory, the dashboard loads
them to show what the safety check would act on.

Pure: no I/O, no clock. Money is ``Decimal``, times are UTC-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.loss_lock import LossLock
from coinpilot.domain.position import PositionState
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import BotStatus, Side, TemperatureLevel, TradeIntent, TradingMode

__all__ = [
    "AccountState",
    "BotState",
    "Confirmation",
    "Cycle",
    "OrderInFlight",
    "OrderIntent",
    "Protections",
]

ZERO = Decimal(0)
_NO_BALANCES: Mapping[str, Decimal] = MappingProxyType({})


@dataclass(frozen=True)
class Cycle:
    """The current position cycle, from its first entry until the position is flat again."""

    opened_at: datetime | None = None
    high_water: Decimal | None = None  # highest bid since the first entry (trailing stop)
    rungs_taken: frozenset[int] = frozenset()  # take-profit rungs already sold this cycle


@dataclass(frozen=True)
class Confirmation:
    """The action being confirmed, since when, and when the bot was last observed (a longer
    gap than the bot's allowed one restarts the timer: nobody saw the signal hold)."""

    action: ConfirmationState = field(default_factory=ConfirmationState)
    last_seen: datetime | None = None


@dataclass(frozen=True)
class OrderInFlight:
    """An order of the bot that is not final yet (or that the order sync gave up on)."""

    side: Side
    intent: TradeIntent
    quote_size: Decimal | None
    base_size: Decimal | None
    approved_price: Decimal | None  # the price safety approved it at (ask for a buy, bid for a sell)
    trade_id: int | None = None
    rung: int | None = None  # the take-profit rung it sells, if any
    accepted_at: datetime | None = None
    acknowledged: bool = False  # the exchange accepted it (it has an order id)
    fill_price: Decimal | None = None  # average fill price so far, if any
    needs_attention: bool = False  # the sync gave up: a person must look (blocks entries only)


@dataclass(frozen=True)
class Protections:
    """What the pace and loss rules count for this bot, and the UTC day/week they belong to."""

    day: datetime | None = None  # start of the UTC day the daily counters belong to
    week: datetime | None = None  # start of the UTC week ``realised_week`` belongs to
    trades_today: int = 0  # trades counting against the daily limits (see rules.daily_counts)
    realised_today: Decimal = ZERO  # realised P&L of fills dated today
    realised_week: Decimal = ZERO  # realised P&L of fills dated this week (today included)
    last_fill_at: datetime | None = None  # the cooldown runs from here
    # Realised exits (fill time, P&L), newest first, within the loss-streak lookback window.
    recent_exits: tuple[tuple[datetime, Decimal | None], ...] = ()
    lock_cleared_at: datetime | None = None  # a person's last resume: older exits do not count
    loss_lock: LossLock = field(default_factory=lambda: LossLock(0, None))


@dataclass(frozen=True)
class BotState:
    """Everything the kernel knows about one bot."""

    bot_id: int
    pair: str
    status: BotStatus
    # The parsed configuration and effective strategy (bot-level stop / take-profit filled in).
    # None only in a state loaded for the safety check alone (the live check-and-insert reads
    # the two settings safety needs below, not the whole configuration); :func:`kernel.step`
    # and :func:`kernel.on_evaluation` need both.
    config: BotConfig | None
    strategy: StrategyConfig | None
    position: PositionState = field(default_factory=PositionState)
    cycle: Cycle = field(default_factory=Cycle)
    confirmation: Confirmation = field(default_factory=Confirmation)
    protections: Protections = field(default_factory=Protections)
    order: OrderInFlight | None = None  # the order the sync is still driving, at most one
    attention: tuple[OrderInFlight, ...] = ()  # unfinished orders the sync gave up on
    # Further orders the sync drives (only a store written before the one-order rule held them).
    also_in_flight: tuple[OrderInFlight, ...] = ()
    protection_off: bool = False  # a person turned the automatic stops off (audited)
    cooled: bool = False  # the optional cooling exit is due
    temperature: TemperatureLevel | None = None  # buy-side temperature of the last evaluation
    mark: Decimal | None = None  # the last bid seen (``on_quote``): what the position is marked at
    # The bot's own cooldown and tranche limit as the safety check reads them; None: the config's.
    cooldown_minutes: float | None = None
    max_tranches: int | None = None
    # Open tranches when the position was loaded without them (a count); None: len(tranches).
    open_tranches: int | None = None

    @property
    def tranche_count(self) -> int:
        if self.open_tranches is not None:
            return self.open_tranches
        return len(self.position.tranches)

    @property
    def bot_cooldown_minutes(self) -> float:
        if self.cooldown_minutes is not None:
            return self.cooldown_minutes
        return self.decision_config.cooldown_minutes

    @property
    def bot_max_tranches(self) -> int:
        if self.max_tranches is not None:
            return self.max_tranches
        return self.decision_config.max_tranches

    @property
    def decision_config(self) -> BotConfig:
        """The configuration a decision needs (ValueError when the state was loaded without it)."""
        if self.config is None:
            raise ValueError(f"bot {self.bot_id}: state loaded without its configuration")
        return self.config

    @property
    def decision_strategy(self) -> StrategyConfig:
        if self.strategy is None:
            raise ValueError(f"bot {self.bot_id}: state loaded without its strategy")
        return self.strategy

    @property
    def has_open_order(self) -> bool:
        """An order the sync is still driving: no other order for this bot until it ends."""
        return self.order is not None

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention)

    @property
    def unrealised(self) -> Decimal:
        """The position marked at the last bid: ``size*bid - cost`` (zero when flat or unmarked)."""
        if self.mark is None or self.position.is_flat:
            return ZERO
        return self.position.unrealized_pnl(self.mark)


@dataclass(frozen=True)
class AccountState:
    """The figures shared by every bot of one trading mode."""

    mode: TradingMode
    trading_state: TradingState = TradingState.HALTED  # as this mode sees it (fresh: HALTED)
    reason: str = ""
    day: datetime | None = None  # start of the UTC day the daily figures belong to
    trades_today: int = 0
    realised_today: Decimal = ZERO  # realised P&L of fills dated today, every bot
    unrealised: Decimal = ZERO  # open positions marked to the bid (sum of the bots' last marks)
    exposure: Decimal = ZERO  # cost of the open positions
    buys_in_flight: Decimal = ZERO  # quote committed by buys not applied to a position yet
    # Available balance per currency, with what in-flight orders will take already taken off.
    # A currency missing here is unknown (fails closed).
    balances: Mapping[str, Decimal] = field(default_factory=lambda: _NO_BALANCES)


@dataclass(frozen=True)
class OrderIntent:
    """The one order :func:`coinpilot.domain.kernel.step` asks for: what, why, and the price
    it was judged at (the ask for a buy, the bid for a sell)."""

    bot_id: int
    pair: str
    side: Side
    intent: TradeIntent
    reason: str
    price: Decimal
    quote_size: Decimal | None = None
    base_size: Decimal | None = None
    rung: int | None = None
    confirmation_driven: bool = False
