"""The decision kernel: pure functions that advance :mod:`coinpilot.domain.state` and decide.

Every driver calls the same functions; they differ only in where the state lives and where
quotes and the clock come from (the live engine: the database and the exchange; the backtester:
memory and history). Nothing here reads a clock or does I/O.

Events, in the order a driver usually feeds them:

- :func:`roll_day`: counters reset at the UTC day (trades, realised today) and week (realised
  this week) boundary. Every other function that takes ``now`` rolls first.
- :func:`on_evaluation`: an evaluation's action advances the confirmation (restarted after a gap
  longer than the bot may go unobserved, :func:`coinpilot.domain.confirmation.max_unobserved`).
- :func:`on_quote`: the bid moves the high-water mark and marks the position (unrealised P&L,
  per bot and for the account).
- :func:`step`: at most one :class:`OrderIntent` for the bot now (wraps
  :func:`coinpilot.domain.decision.decide`); ``signal=None`` is the protection pass.
- :func:`safety_context` / :func:`approve`: what :func:`coinpilot.domain.safety.validate` judges
  the intent in, and its verdict.
- :func:`on_order_accepted` (safety allowed it, the trade exists), :func:`on_order_refused`,
  :func:`on_order_acknowledged` (the exchange has it), :func:`on_fill` (a trade's fills are
  applied: position, cycle, counters, realised P&L dated by fill time, loss lock),
  :func:`on_order_final` (it ended without further fills), :func:`on_order_needs_attention`.

Balances are the driver's: it sets :attr:`AccountState.balances` from its exchange
(:func:`with_balances`) before asking for an approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import overload

from coinpilot.domain.clock import ensure_utc
from coinpilot.domain.confirmation import ConfirmationStatus, advance, max_unobserved
from coinpilot.domain.daily_loss import DailyLoss
from coinpilot.domain.decision import BotView, Signal, decide, next_high_water
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import LossLock, loss_lock, window_start
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.position import FillLike, apply_entry, apply_exit
from coinpilot.domain.safety import validate
from coinpilot.domain.safety_types import Decision, SafetyContext, SafetyRequest, day_start, week_start
from coinpilot.domain.state import (
    AccountState,
    BotState,
    Confirmation,
    Cycle,
    OrderInFlight,
    OrderIntent,
)
from coinpilot.domain.trade_facts import counts_against_limits, inflight_buy_value
from coinpilot.domain.types import Action, Side, TemperatureLevel, TradeStatus

__all__ = [
    "OrderIntent",
    "approve",
    "daily_loss",
    "dust_threshold",
    "on_evaluation",
    "on_fill",
    "on_order_accepted",
    "on_order_acknowledged",
    "on_order_final",
    "on_order_needs_attention",
    "on_order_refused",
    "on_quote",
    "order_value",
    "request_of",
    "resumed",
    "roll_day",
    "safety_context",
    "step",
    "view_of",
    "with_balances",
]

ZERO = Decimal(0)


# ------------------------------------------------------------------------------------------------
# Day boundaries
# ------------------------------------------------------------------------------------------------


@overload
def roll_day(state: BotState, now: datetime) -> BotState: ...
@overload
def roll_day(state: AccountState, now: datetime) -> AccountState: ...
def roll_day(state: BotState | AccountState, now: datetime) -> BotState | AccountState:
    """``state`` with its daily (and, for a bot, weekly) counters reset when ``now`` lies in a
    later UTC day (week) than the one they belong to. A state that belongs to no day yet is
    stamped with today's."""
    if isinstance(state, AccountState):
        return _roll_account(state, now)
    return _roll_bot(state, now)


def _roll_account(state: AccountState, now: datetime) -> AccountState:
    today = day_start(now)
    if state.day == today:
        return state
    if state.day is None or state.day > today:
        return replace(state, day=today)
    return replace(state, day=today, trades_today=0, realised_today=ZERO)


def _roll_bot(state: BotState, now: datetime) -> BotState:
    today, week = day_start(now), week_start(now)
    p = state.protections
    if p.day == today and p.week == week:
        return state
    new = replace(p, day=today, week=week)
    if p.day is not None and p.day < today:
        new = replace(new, trades_today=0, realised_today=ZERO)
    if p.week is not None and p.week < week:
        new = replace(new, realised_week=ZERO)
    return replace(state, protections=new)


# ------------------------------------------------------------------------------------------------
# Evaluations and quotes
# ------------------------------------------------------------------------------------------------


def on_evaluation(
    bot: BotState,
    action: Action,
    now: datetime,
    *,
    interval_seconds: float = 0.0,
    temperature: TemperatureLevel | None = None,
) -> tuple[BotState, ConfirmationStatus]:
    """Feed one evaluation's action to the confirmation. A bot not observed for longer than
    :func:`max_unobserved` (twice ``interval_seconds`` or one candle) starts over."""
    now = ensure_utc(now)
    c = bot.confirmation
    new_action, status = advance(
        c.action,
        action,
        now,
        bot.decision_config.confirmation,
        last_seen=c.last_seen,
        max_gap=max_unobserved(interval_seconds, bot.decision_config.granularity.seconds),
    )
    bot = replace(bot, confirmation=Confirmation(new_action, now))
    if temperature is not None:
        bot = replace(bot, temperature=temperature)
    return bot, status


def on_quote(bot: BotState, account: AccountState, bid: Decimal) -> tuple[BotState, AccountState]:
    """The bid moves the high-water mark (every tick, every bot holding a position) and marks
    the position; the account's unrealised P&L moves by the same difference."""
    high = next_high_water(bot.position, bot.cycle.high_water, bid)
    new_bot = replace(bot, cycle=replace(bot.cycle, high_water=high), mark=bid)
    delta = new_bot.unrealised - bot.unrealised
    if not delta:
        return new_bot, account
    return new_bot, replace(account, unrealised=account.unrealised + delta)


# ------------------------------------------------------------------------------------------------
# The decision
# ------------------------------------------------------------------------------------------------


def view_of(bot: BotState) -> BotView:
    """The bot as :func:`decide` sees it. An order the sync gave up on does not block exits."""
    return BotView(
        bot_id=bot.bot_id,
        pair=bot.pair,
        status=bot.status,
        config=bot.decision_config,
        position=bot.position,
        position_opened_at=bot.cycle.opened_at,
        high_water=bot.cycle.high_water,
        rungs_taken=bot.cycle.rungs_taken,
        has_open_trade=bot.order is not None or bool(bot.also_in_flight),
        protection_off=bot.protection_off,
        cooled=bot.cooled,
    )


def step(
    bot: BotState,
    account: AccountState,
    quote: BestBidAsk,
    signal: Signal | None,
    now: datetime,
    product: Product,
    limits: SafetyLimits,
) -> tuple[BotState, OrderIntent | None]:
    """At most one order for this bot now. ``signal`` None: exits from the bid alone (the
    protection pass). The intent is not approved yet: the driver asks :func:`approve` (live:
    under the trading lock), as every order must pass the safety check.

    ``account`` is read, not changed (the trading state is safety's to judge, so a refused
    intent is audited like any other)."""
    bot = roll_day(bot, now)
    high = next_high_water(bot.position, bot.cycle.high_water, quote.bid)
    if high != bot.cycle.high_water:
        bot = replace(bot, cycle=replace(bot.cycle, high_water=high))
    plan = decide(
        view_of(bot),
        signal,
        quote.bid,
        quote.ask,
        product.base_increment,
        limits,
        bot.decision_strategy,
        base_min_size=product.base_min_size,
        quote_min_size=product.quote_min_size,
    )
    if plan is None:
        return bot, None
    return bot, OrderIntent(
        bot_id=bot.bot_id,
        pair=bot.pair,
        side=plan.side,
        intent=plan.intent,
        reason=plan.reason,
        price=quote.ask if plan.side is Side.BUY else quote.bid,
        quote_size=plan.quote_size,
        base_size=plan.base_size,
        rung=plan.rung,
        confirmation_driven=plan.confirmation_driven,
    )


def request_of(intent: OrderIntent) -> SafetyRequest:
    return SafetyRequest(
        bot_id=intent.bot_id,
        pair=intent.pair,
        side=intent.side,
        intent=intent.intent,
        quote_size=intent.quote_size,
        base_size=intent.base_size,
        price=intent.price,
    )


def order_value(order: OrderInFlight) -> Decimal:
    """The quote a buy in flight commits (:func:`inflight_buy_value`); zero for a sell."""
    if order.side is not Side.BUY:
        return ZERO
    return inflight_buy_value(order.quote_size, order.base_size, order.fill_price, order.approved_price)


def safety_context(
    bot: BotState, account: AccountState, request: SafetyRequest, product: Product | None, now: datetime
) -> SafetyContext:
    """What the safety check judges ``request`` in. Counters are rolled to ``now``'s day first;
    buys in flight count as exposure (the bot's and the account's) until they are applied."""
    bot = roll_day(bot, now)
    account = roll_day(account, now)
    p = bot.protections
    orders = (bot.order, *bot.also_in_flight, *bot.attention)
    own_inflight = sum((order_value(o) for o in orders if o is not None), ZERO)
    quote_cur = product.quote_currency if product is not None else request.pair.partition("-")[2]
    base_cur = product.base_currency if product is not None else request.pair.partition("-")[0]
    return SafetyContext(
        now=now,
        mode=account.mode,
        trading_state=account.trading_state,
        bot_status=bot.status,
        bot_cooldown_minutes=bot.bot_cooldown_minutes,
        bot_max_tranches=bot.bot_max_tranches,
        product=product,
        trades_today_total=account.trades_today,
        trades_today_bot=p.trades_today,
        last_fill_at=p.last_fill_at,
        has_open_trade=bot.order is not None or bool(bot.also_in_flight),
        trade_needs_attention=bool(bot.attention),
        position_tranches=bot.tranche_count,
        position_base=bot.position.base_size,
        position_cost=bot.position.cost + own_inflight,
        total_exposure=account.exposure + account.buys_in_flight,
        realized_pnl_today=account.realised_today,
        consecutive_losses=p.loss_lock.losses,
        loss_lock_until=p.loss_lock.until,
        weekly_pnl_position=p.realised_week,
        daily_pnl_position=p.realised_today,
        quote_available=account.balances.get(quote_cur),
        base_available=account.balances.get(base_cur),
        entry_temperature=bot.temperature,
    )


def approve(
    bot: BotState,
    account: AccountState,
    intent: OrderIntent,
    product: Product | None,
    now: datetime,
    limits: SafetyLimits,
) -> Decision:
    """The safety check's verdict on ``intent`` in this state (never raises: fails closed)."""
    request = request_of(intent)
    return validate(request, safety_context(bot, account, request, product, now), limits)


def with_balances(account: AccountState, balances: Mapping[str, Decimal]) -> AccountState:
    return replace(account, balances=MappingProxyType(dict(balances)))


def daily_loss(account: AccountState, limits: SafetyLimits) -> DailyLoss:
    """The daily loss breaker's figure: realised today plus the open positions at the bid."""
    return DailyLoss(account.realised_today, account.unrealised, limits.daily_loss_limit_usd)


# ------------------------------------------------------------------------------------------------
# Orders and fills
# ------------------------------------------------------------------------------------------------


def on_order_accepted(
    bot: BotState,
    account: AccountState,
    intent: OrderIntent,
    now: datetime,
    *,
    trade_id: int | None = None,
) -> tuple[BotState, AccountState]:
    """Safety allowed ``intent`` and its trade exists: it is the bot's order in flight, counts
    toward today's trades, a buy counts as exposure, and a confirmation-driven order restarts
    the confirmation (the next one needs a full new period). Raises ValueError when the bot
    already has an order in flight (at most one)."""
    if bot.order is not None:
        raise ValueError(f"bot {bot.bot_id} already has an order in flight")
    bot, account = roll_day(bot, now), roll_day(account, now)
    order = OrderInFlight(
        side=intent.side,
        intent=intent.intent,
        quote_size=intent.quote_size,
        base_size=intent.base_size,
        approved_price=intent.price,
        trade_id=trade_id,
        rung=intent.rung,
        accepted_at=now,
    )
    p = bot.protections
    bot = replace(bot, order=order, protections=replace(p, trades_today=p.trades_today + 1))
    if intent.confirmation_driven:
        bot = _restart_confirmation(bot, now)
    account = replace(
        account,
        trades_today=account.trades_today + 1,
        buys_in_flight=account.buys_in_flight + order_value(order),
    )
    return bot, account


def on_order_refused(bot: BotState, intent: OrderIntent, now: datetime) -> BotState:
    """A refused confirmation-driven order still used its confirmation (one attempt each)."""
    return _restart_confirmation(bot, now) if intent.confirmation_driven else bot


def _restart_confirmation(bot: BotState, now: datetime) -> BotState:
    c = bot.confirmation
    return replace(bot, confirmation=replace(c, action=c.action.restarted(now)))


def on_order_acknowledged(bot: BotState) -> BotState:
    """The exchange accepted the order in flight (it has an order id)."""
    if bot.order is None:
        return bot
    return replace(bot, order=replace(bot.order, acknowledged=True))


def on_order_needs_attention(bot: BotState) -> BotState:
    """The sync gave up on the order in flight: it waits for a person, blocks entries, and no
    longer blocks exits (they sell only the settled position). Its buy still counts as exposure."""
    if bot.order is None:
        return bot
    return replace(bot, order=None, attention=(*bot.attention, replace(bot.order, needs_attention=True)))


def on_order_final(
    bot: BotState, account: AccountState, status: TradeStatus, now: datetime
) -> tuple[BotState, AccountState]:
    """The order in flight ended without (further) fills: CANCELLED, EXPIRED or FAILED. Its buy
    no longer counts as exposure; one that never reached the exchange (FAILED before an order
    id) no longer counts toward today's trades (if it was counted today)."""
    order = bot.order
    if order is None:
        return bot, account
    bot, account = roll_day(bot, now), roll_day(account, now)
    uncount = (
        not counts_against_limits(status, order.acknowledged)
        and order.accepted_at is not None
        and day_start(order.accepted_at) == bot.protections.day
    )
    p = bot.protections
    bot = replace(bot, order=None)
    account = replace(account, buys_in_flight=max(ZERO, account.buys_in_flight - order_value(order)))
    if uncount:
        bot = replace(bot, protections=replace(p, trades_today=max(0, p.trades_today - 1)))
        account = replace(account, trades_today=max(0, account.trades_today - 1))
    return bot, account


def dust_threshold(product: Product) -> Decimal:
    """A remainder below this after an exit is dust: the product's increment or minimum."""
    return max(product.base_increment, product.base_min_size)


def on_fill(
    bot: BotState,
    account: AccountState,
    fills: Sequence[FillLike],
    at: datetime,
    product: Product,
    limits: SafetyLimits,
    now: datetime | None = None,
) -> tuple[BotState, AccountState]:
    """The fills of the order in flight are applied (its trade settles): the position, the
    cycle (opened, rungs, reset when flat), the last fill time, realised P&L dated by the fill
    time ``at`` (today's and this week's only if ``at`` falls in them), the loss lock. The
    order is no longer in flight. Raises ValueError without an order in flight, or for fills
    the position cannot take (nothing is applied)."""
    order = bot.order
    if order is None:
        raise ValueError(f"bot {bot.bot_id} has no order in flight to fill")
    at = ensure_utc(at)
    now = ensure_utc(now) if now is not None else at
    bot, account = roll_day(bot, now), roll_day(account, now)
    before = bot.position
    cycle, p = bot.cycle, bot.protections
    realised = ZERO
    if order.side is Side.BUY:
        trade_id = order.trade_id if order.trade_id is not None else -(len(before.tranches) + 1)
        position = apply_entry(before, fills, trade_id, at)
        if before.is_flat:
            cycle = Cycle(opened_at=at)
    else:
        position, realised = apply_exit(before, fills, dust_threshold(product))
        if order.rung is not None:
            cycle = replace(cycle, rungs_taken=cycle.rungs_taken | {order.rung})
        if position.is_flat:
            cycle = Cycle()
        exits = ((at, realised), *p.recent_exits)
        start = window_start(now, limits, p.lock_cleared_at)
        exits = tuple(e for e in exits if e[0] >= start)[: max(1, limits.max_consecutive_losses)]
        p = replace(p, recent_exits=exits, loss_lock=loss_lock(exits, now, limits, p.lock_cleared_at))
    today, week = day_start(at), week_start(at)
    p = replace(
        p,
        last_fill_at=at if p.last_fill_at is None or at > p.last_fill_at else p.last_fill_at,
        realised_today=p.realised_today + (realised if today == p.day else ZERO),
        realised_week=p.realised_week + (realised if week == p.week else ZERO),
    )
    new_bot = replace(bot, position=position, cycle=cycle, protections=p, order=None)
    account = replace(
        account,
        exposure=max(ZERO, account.exposure + position.cost - before.cost),
        buys_in_flight=max(ZERO, account.buys_in_flight - order_value(order)),
        realised_today=account.realised_today + (realised if today == account.day else ZERO),
        # The position changed under the same bid: its mark moves by the difference.
        unrealised=account.unrealised + new_bot.unrealised - bot.unrealised,
    )
    return new_bot, account


def resumed(bot: BotState, now: datetime) -> BotState:
    """A person resumed the bot: the loss lock is cleared (exits before now no longer count)
    and the confirmation starts over."""
    p = replace(bot.protections, lock_cleared_at=now, recent_exits=(), loss_lock=LossLock(0, None))
    return replace(bot, protections=p, confirmation=Confirmation())
