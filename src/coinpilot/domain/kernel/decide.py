"""The decision and its judgement: at most one intent per bot (:func:`step`), the context the
safety check judges it in (:func:`safety_context`) and the verdict (:func:`approve`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from coinpilot.domain.daily_loss import DailyLoss
from coinpilot.domain.decision import BotView, Signal, decide, next_high_water
from coinpilot.domain.evolve import build, evolve
from coinpilot.domain.kernel.days import roll_day
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import loss_lock
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.safety import validate
from coinpilot.domain.safety_types import Decision, SafetyContext, SafetyRequest
from coinpilot.domain.state import AccountState, BotState, OrderInFlight, OrderIntent
from coinpilot.domain.trade_facts import exposure, inflight_buy_value
from coinpilot.domain.types import Side

ZERO = Decimal(0)

__all__ = [
    "approve",
    "daily_loss",
    "order_value",
    "refresh_loss_lock",
    "request_of",
    "safety_context",
    "step",
    "view_of",
    "with_balances",
]


def view_of(bot: BotState) -> BotView:
    """The bot as :func:`decide` sees it. An order the sync gave up on does not block exits."""
    return build(
        BotView,
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
        bot = evolve(bot, cycle=evolve(bot.cycle, high_water=high))
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
    return bot, build(
        OrderIntent,
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
    return build(
        SafetyRequest,
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
    bot: BotState,
    account: AccountState,
    request: SafetyRequest,
    product: Product | None,
    now: datetime,
    limits: SafetyLimits,
) -> SafetyContext:
    """What the safety check judges ``request`` in. Counters are rolled to ``now``'s day first
    and the loss lock is recomputed as of ``now`` (:func:`refresh_loss_lock`: the state's lock
    was computed at the last exit), so every caller gets the answer :func:`approve` judges by;
    buys in flight count as exposure (the bot's and the account's) until they are applied."""
    bot = refresh_loss_lock(roll_day(bot, now), now, limits)
    account = roll_day(account, now)
    p = bot.protections
    orders = (bot.order, *bot.also_in_flight, *bot.attention)
    own_inflight = [order_value(o) for o in orders if o is not None]
    quote_cur = product.quote_currency if product is not None else request.pair.partition("-")[2]
    base_cur = product.base_currency if product is not None else request.pair.partition("-")[0]
    return build(
        SafetyContext,
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
        position_cost=exposure(bot.position.cost, own_inflight),
        total_exposure=exposure(account.exposure, (account.buys_in_flight,)),
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
    return validate(request, safety_context(bot, account, request, product, now, limits), limits)


def refresh_loss_lock(bot: BotState, now: datetime, limits: SafetyLimits) -> BotState:
    """The loss lock as of ``now``: exits that left the lookback window no longer count (the
    lock held in the state was computed at the last exit)."""
    p = bot.protections
    lock = loss_lock(p.recent_exits, now, limits, p.lock_cleared_at)
    return bot if lock == p.loss_lock else evolve(bot, protections=evolve(p, loss_lock=lock))


def with_balances(account: AccountState, balances: Mapping[str, Decimal]) -> AccountState:
    return evolve(account, balances=MappingProxyType(dict(balances)))


def daily_loss(account: AccountState, limits: SafetyLimits) -> DailyLoss:
    """The daily loss breaker's figure: realised today plus the open positions at the bid."""
    return DailyLoss(account.realised_today, account.unrealised, limits.daily_loss_limit_usd)
