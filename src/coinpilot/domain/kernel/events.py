"""The events that advance the state: an evaluation, a quote, an order accepted, refused,
acknowledged, given up on or final, a fill, a person's resume."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from coinpilot.domain.clock import ensure_utc
from coinpilot.domain.confirmation import ConfirmationStatus, advance, max_unobserved
from coinpilot.domain.decision import next_high_water
from coinpilot.domain.evolve import build, evolve
from coinpilot.domain.kernel.days import roll_day
from coinpilot.domain.kernel.decide import order_value
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import LossLock, loss_lock, window_start
from coinpilot.domain.market import Product
from coinpilot.domain.position import FillLike, apply_entry, apply_exit
from coinpilot.domain.safety_types import day_start, week_start
from coinpilot.domain.state import AccountState, BotState, Confirmation, Cycle, OrderInFlight, OrderIntent
from coinpilot.domain.trade_facts import counts_against_limits
from coinpilot.domain.types import Action, Side, TemperatureLevel, TradeStatus

ZERO = Decimal(0)

__all__ = [
    "dust_threshold",
    "on_evaluation",
    "on_fill",
    "on_order_accepted",
    "on_order_acknowledged",
    "on_order_final",
    "on_order_needs_attention",
    "on_order_refused",
    "on_quote",
    "resumed",
]


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
    cfg = bot.decision_config
    new_action, status = advance(
        c.action,
        action,
        now,
        cfg.confirmation,
        last_seen=c.last_seen,
        max_gap=max_unobserved(interval_seconds, cfg.granularity.seconds),
    )
    confirmation = Confirmation(new_action, now)
    if temperature is None:
        return evolve(bot, confirmation=confirmation), status
    return evolve(bot, confirmation=confirmation, temperature=temperature), status


def on_quote(bot: BotState, account: AccountState, bid: Decimal) -> tuple[BotState, AccountState]:
    """The bid moves the high-water mark (every tick, every bot holding a position) and marks
    the position; the account's unrealised P&L moves by the same difference."""
    cycle = bot.cycle
    high = next_high_water(bot.position, cycle.high_water, bid)
    if high is not cycle.high_water:  # the same object: the cycle is unchanged
        cycle = evolve(cycle, high_water=high)
    new_bot = evolve(bot, cycle=cycle, mark=bid)
    delta = new_bot.unrealised - bot.unrealised
    if not delta:
        return new_bot, account
    return new_bot, evolve(account, unrealised=account.unrealised + delta)


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
    order = build(
        OrderInFlight,
        side=intent.side,
        intent=intent.intent,
        quote_size=intent.quote_size,
        base_size=intent.base_size,
        approved_price=intent.price,
        trade_id=trade_id,
        rung=intent.rung,
        accepted_at=now,
        acknowledged=False,
        fill_price=None,
        needs_attention=False,
    )
    p = bot.protections
    protections = evolve(p, trades_today=p.trades_today + 1)
    if intent.confirmation_driven:
        bot = evolve(bot, order=order, protections=protections, confirmation=_restarted(bot, now))
    else:
        bot = evolve(bot, order=order, protections=protections)
    account = evolve(
        account,
        trades_today=account.trades_today + 1,
        buys_in_flight=account.buys_in_flight + order_value(order),
    )
    return bot, account


def on_order_refused(bot: BotState, intent: OrderIntent, now: datetime) -> BotState:
    """A refused confirmation-driven order still used its confirmation (one attempt each)."""
    return _restart_confirmation(bot, now) if intent.confirmation_driven else bot


def _restart_confirmation(bot: BotState, now: datetime) -> BotState:
    return evolve(bot, confirmation=_restarted(bot, now))


def _restarted(bot: BotState, now: datetime) -> Confirmation:
    c = bot.confirmation
    return evolve(c, action=c.action.restarted(now))


def on_order_acknowledged(bot: BotState) -> BotState:
    """The exchange accepted the order in flight (it has an order id)."""
    if bot.order is None:
        return bot
    return evolve(bot, order=evolve(bot.order, acknowledged=True))


def on_order_needs_attention(bot: BotState) -> BotState:
    """The sync gave up on the order in flight: it waits for a person, blocks entries, and no
    longer blocks exits (they sell only the settled position). Its buy still counts as exposure."""
    if bot.order is None:
        return bot
    return evolve(bot, order=None, attention=(*bot.attention, evolve(bot.order, needs_attention=True)))


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
    bot = evolve(bot, order=None)
    account = evolve(account, buys_in_flight=max(ZERO, account.buys_in_flight - order_value(order)))
    if uncount:
        bot = evolve(bot, protections=evolve(p, trades_today=max(0, p.trades_today - 1)))
        account = evolve(account, trades_today=max(0, account.trades_today - 1))
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
    exit_facts: dict[str, Any] = {}  # an exit's loss-lock facts, set with the fill's own
    if order.side is Side.BUY:
        trade_id = order.trade_id if order.trade_id is not None else -(len(before.tranches) + 1)
        position = apply_entry(before, fills, trade_id, at)
        if before.is_flat:
            cycle = build(Cycle, opened_at=at, high_water=None, rungs_taken=frozenset())
    else:
        position, realised = apply_exit(before, fills, dust_threshold(product))
        if order.rung is not None:
            cycle = evolve(cycle, rungs_taken=cycle.rungs_taken | {order.rung})
        if position.is_flat:
            cycle = Cycle()
        exits = ((at, realised), *p.recent_exits)
        start = window_start(now, limits, p.lock_cleared_at)
        exits = tuple(e for e in exits if e[0] >= start)[: max(1, limits.max_consecutive_losses)]
        lock = loss_lock(exits, now, limits, p.lock_cleared_at)
        exit_facts = {"recent_exits": exits, "loss_lock": lock}
    today, week = day_start(at), week_start(at)
    p = evolve(
        p,
        last_fill_at=at if p.last_fill_at is None or at > p.last_fill_at else p.last_fill_at,
        realised_today=p.realised_today + (realised if today == p.day else ZERO),
        realised_week=p.realised_week + (realised if week == p.week else ZERO),
        **exit_facts,
    )
    new_bot = evolve(bot, position=position, cycle=cycle, protections=p, order=None)
    account = evolve(
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
    p = evolve(bot.protections, lock_cleared_at=now, recent_exits=(), loss_lock=LossLock(0, None))
    return evolve(bot, protections=p, confirmation=Confirmation())
