"""The pure per-bot decision: at most one order from what a bot knows now.

Pure (no I/O, no clock): the live engine, the protection pass and tests call the same
functions, so "what would this bot do at this bid?" has one answer everywhere.

- :func:`decide`: exits first (stop-loss from the average entry, trailing stop from the
  high-water mark, exit on a *confirmed* SELL of a RUNNING bot, then the take-profit ladder),
  entries only on a confirmed BUY of a RUNNING bot that may enter; nothing while the bot has an
  unfinished trade. ``signal=None`` is the protection pass: exits from the bid alone, whatever
  the bot's status and whether or not its candles or signals evaluated.
- :func:`next_high_water`: the highest bid since the cycle's first entry, moved on every tick.
- :func:`effective_strategy`: the bot's strategy with the bot-level stop / take-profit filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.evolve import evolve
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.position import PositionState
from coinpilot.domain.strategy import StrategyConfig, exit_decision, plan_entry, sizing_temperature
from coinpilot.domain.types import Action, BotStatus, Side, TemperatureLevel, TradeIntent, quantize_down

__all__ = [
    "BotView",
    "OrderPlan",
    "Signal",
    "decide",
    "effective_strategy",
    "next_high_water",
]


@dataclass(frozen=True)
class BotView:
    """What the decision needs to know about one bot, read in bulk before deciding."""

    bot_id: int
    pair: str
    status: BotStatus
    config: BotConfig
    position: PositionState
    position_opened_at: datetime | None
    high_water: Decimal | None
    rungs_taken: frozenset[int]
    has_open_trade: bool
    # A person turned this position's automatic protection (stop-loss, trailing stop,
    # take-profit) off, explicitly and audited; only a RUNNING bot's confirmed SELL still exits.
    protection_off: bool = False
    # The optional cooling exit is due: the bot stayed below its strategy's level for the whole
    # period (computed from its evaluations when the view is loaded; see domain/cooling.py).
    cooled: bool = False


@dataclass(frozen=True)
class Signal:
    """The evaluation facts a decision uses (confirmation already advanced)."""

    action: Action
    confirmed: bool
    temperature: TemperatureLevel
    score: float
    snapshot: dict[str, Any] = field(default_factory=dict)
    confirmation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPlan:
    side: Side
    intent: TradeIntent
    reason: str
    quote_size: Decimal | None = None
    base_size: Decimal | None = None
    rung: int | None = None
    confirmation_driven: bool = False


def effective_strategy(raw: dict[str, Any] | None, cfg: BotConfig) -> StrategyConfig:
    """The bot's strategy, with the bot-level ``stop_loss_pct`` / ``take_profit_pct`` used when
    the strategy JSON does not set its own stop or ladder."""
    raw = dict(raw or {})
    strategy = cfg.strategy
    changes: dict[str, Any] = {}
    if "stop_loss_pct" not in raw and cfg.stop_loss_pct is not None:
        changes["stop_loss_pct"] = cfg.stop_loss_pct
    if "take_profit_ladder" not in raw and cfg.take_profit_pct is not None:
        changes["take_profit_ladder"] = ((cfg.take_profit_pct, Decimal(100)),)
    if not changes:
        return strategy
    return StrategyConfig.from_dict({**strategy.to_dict(), **changes})


def decide(
    view: BotView,
    signal: Signal | None,
    bid: Decimal,
    ask: Decimal,
    base_increment: Decimal,
    limits: SafetyLimits,
    strategy: StrategyConfig,
    *,
    base_min_size: Decimal = Decimal(0),
    quote_min_size: Decimal = Decimal(0),
) -> OrderPlan | None:
    """At most one order for this bot now (pure). ``signal`` is None for exit-only checks.
    The product's minimums keep exits the exchange would refuse out of the plan."""
    if view.has_open_trade:
        return None
    pos = view.position
    confirmed_sell = bool(signal and signal.confirmed and signal.action is Action.SELL)
    if not pos.is_flat:
        if view.protection_off:
            strategy = evolve(strategy, stop_loss_pct=None, trailing_stop_pct=None, take_profit_ladder=())
        ex = exit_decision(
            strategy,
            pos,
            bid,
            view.high_water,
            view.rungs_taken,
            confirmed_sell and view.status is BotStatus.RUNNING,
            base_increment,
            base_min_size=base_min_size,
            quote_min_size=quote_min_size,
        )
        if ex is not None:
            return OrderPlan(
                Side.SELL,
                ex.intent,
                ex.reason,
                base_size=ex.base_size,
                rung=ex.rung,
                confirmation_driven=ex.intent is TradeIntent.SIGNAL_EXIT,
            )
        everything = quantize_down(pos.base_size, base_increment)
        if (
            view.cooled
            and view.status is BotStatus.RUNNING
            and strategy.cooling_exit_below
            and everything > 0
        ):
            return OrderPlan(
                Side.SELL,
                TradeIntent.SIGNAL_EXIT,
                f"the bot stayed below {strategy.cooling_exit_below.value} for "
                f"{strategy.cooling_exit_minutes} minutes (cooling exit)",
                base_size=everything,
            )
    if signal is None or view.status is not BotStatus.RUNNING:
        return None
    if not (signal.confirmed and signal.action is Action.BUY):
        return None
    cfg = view.config
    index = len(pos.tranches) if not pos.is_flat else 0
    plan = plan_entry(
        strategy,
        cfg.trade_size_usd,
        sizing_temperature(signal.score, cfg.buy_threshold),
        index,
        pos.cost,
        limits.max_position_usd_per_bot,
        min(cfg.max_tranches, limits.max_tranches),
        pos.last_entry_price if not pos.is_flat else None,
        ask,
    )
    if plan.quote_size is None or plan.quote_size < limits.min_trade_usd:
        return None
    return OrderPlan(
        Side.BUY,
        TradeIntent.ENTRY,
        plan.reason,
        quote_size=min(plan.quote_size, limits.max_trade_usd),
        confirmation_driven=True,
    )


def next_high_water(position: PositionState, current: Decimal | None, bid: Decimal | None) -> Decimal | None:
    """Highest bid since the cycle's first entry; cleared when flat."""
    if position.is_flat:
        return None
    if bid is None:
        return current
    return bid if current is None or bid > current else current
