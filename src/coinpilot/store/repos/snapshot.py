"""Load the kernel's state for one safety check: the bot's and the account's, from persisted facts.

Called inside the trading-lock transaction, so every figure reflects every trade committed
before it. Market inputs (product, balances) are fetched by the caller before the lock, to keep
the lock short; they are passed in here. This module only loads facts and maps them to
:class:`~coinpilot.domain.state.BotState` / :class:`~coinpilot.domain.state.AccountState`; which
trades count, how a buy in flight is valued and what locks a bot are the domain's
(:mod:`coinpilot.domain.trade_facts`, :mod:`coinpilot.domain.loss_lock`), and the context the
safety check judges is :func:`coinpilot.domain.kernel.safety_context` of those states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.exchange_values import Balance
from coinpilot.domain.kernel import safety_context
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import loss_lock, window_start
from coinpilot.domain.market import Product
from coinpilot.domain.position import PositionState
from coinpilot.domain.safety import SafetyContext, SafetyRequest, day_start, week_start
from coinpilot.domain.state import AccountState, BotState, OrderInFlight, Protections
from coinpilot.domain.trade_facts import count_trades
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.store.models import Bot, BotRuntime, ControlState, Position, Trade, Tranche
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.control import effective_state

ZERO = Decimal(0)


@dataclass(frozen=True)
class BotFacts:
    """The bot columns the safety check reads (a plain row: nothing for the ORM to track)."""

    id: int
    pair: str
    status: BotStatus
    cooldown_minutes: float
    max_tranches: int


_BOT_FACTS = sa.select(Bot.id, Bot.pair, Bot.status, Bot.cooldown_minutes, Bot.max_tranches).where(
    Bot.id == sa.bindparam("bot_id")
)


def bot_facts(session: Session, bot_id: int) -> BotFacts | None:
    row = session.connection().execute(_BOT_FACTS, {"bot_id": bot_id}).first()
    return None if row is None else BotFacts(row[0], row[1], BotStatus(row[2]), row[3], row[4])


@dataclass(frozen=True)
class LockedFacts:
    """The bot and its one-row counters, read in one statement under the trading lock (each
    round trip there is paid by every order waiting for the lock)."""

    bot: BotFacts
    position_id: int | None  # None: the bot has no position row in this mode yet
    position_base: Decimal
    position_cost: Decimal
    open_tranches: int
    last_fill_at: datetime | None
    loss_lock_cleared_at: datetime | None = None  # a person's last resume


def _locked_facts_statement() -> sa.Select[Any]:
    mode: sa.BindParameter[Any] = sa.bindparam("mode")
    return (
        sa.select(
            Bot.id,
            Bot.pair,
            Bot.status,
            Bot.cooldown_minutes,
            Bot.max_tranches,
            Position.id,
            Position.base_size,
            Position.cost,
            sa.select(sa.func.count(Tranche.id))
            .where(Tranche.position_id == Position.id, Tranche.closed_at.is_(None))
            .scalar_subquery(),
            sa.select(Trade.last_fill_at)
            .where(Trade.bot_id == Bot.id, Trade.mode == mode, Trade.last_fill_at.is_not(None))
            .order_by(Trade.last_fill_at.desc())
            .limit(1)
            .scalar_subquery(),
            sa.select(BotRuntime.loss_lock_cleared_at).where(BotRuntime.bot_id == Bot.id).scalar_subquery(),
        )
        .select_from(Bot)
        .outerjoin(Position, sa.and_(Position.bot_id == Bot.id, Position.mode == mode))
        .where(Bot.id == sa.bindparam("bot_id"))
    )


_LOCKED_FACTS = _locked_facts_statement()


def locked_facts(session: Session, bot_id: int, mode: TradingMode) -> LockedFacts | None:
    """Bot, position, open tranches and the last fill; None if the bot does not exist.
    Same answers as :func:`bot_facts`, the ORM position and ``last_fill_per_bot`` (a test
    holds them equal)."""
    row = session.connection().execute(_LOCKED_FACTS, {"bot_id": bot_id, "mode": mode}).first()
    if row is None:
        return None
    return LockedFacts(
        bot=BotFacts(row[0], row[1], BotStatus(row[2]), row[3], row[4]),
        position_id=row[5],
        position_base=row[6] if row[6] is not None else ZERO,
        position_cost=row[7] if row[7] is not None else ZERO,
        open_tranches=int(row[8] or 0),
        last_fill_at=row[9],
        loss_lock_cleared_at=row[10],
    )


@dataclass(frozen=True)
class Gathered:
    context: SafetyContext
    facts: LockedFacts
    bot: BotState
    account: AccountState


def gather_context(
    session: Session,
    *,
    now: datetime,
    mode: TradingMode,
    state: ControlState,
    bot_id: int,
    product: Product,
    balances: dict[str, Balance],
    limits: SafetyLimits,
    request: SafetyRequest,
    balances_read_at: datetime | None = None,
    exclude_trade_id: int | None = None,
) -> Gathered | None:
    """The bot's and the account's state as the safety check needs them, read from the
    database (mode-filtered), and the context :func:`kernel.safety_context` makes of them;
    None if the bot does not exist.

    ``balances`` were read before the lock (at ``balances_read_at``); what every bot's in-flight
    orders will take that the read may not show is subtracted here, under the lock, so balance
    checks (the reserve, coins to sell) see what the account will really have left."""
    today = day_start(now)
    week = week_start(now)
    # In-flight buys are read BEFORE the position and the exposure: on PostgreSQL a settlement
    # may commit between the reads (it holds the trade's row lock, not the trading lock); in
    # this order a trade settling in between is counted twice (stricter), never missed.
    inflight, today_trades = trade_repo.in_flight_and_today(
        session, mode, bot_id, today, balances_read_at or now, exclude_trade_id
    )
    facts = locked_facts(session, bot_id, mode)
    if facts is None:
        return None
    bot = facts.bot
    exposure = position_repo.total_cost(session, mode)
    realized_today, daily_pnl_bot, weekly_pnl_bot = trade_repo.realized_today_and_week(
        session, mode, today, week, bot.id
    )
    since = window_start(now, limits, facts.loss_lock_cleared_at)
    exits = trade_repo.recent_exits(session, mode, bot.id, since, limits.max_consecutive_losses)
    bot_state = BotState(
        bot_id=bot.id,
        pair=bot.pair,
        status=bot.status,
        config=None,  # the safety check needs only the two settings below
        strategy=None,
        cooldown_minutes=bot.cooldown_minutes,
        max_tranches=bot.max_tranches,
        position=PositionState(base_size=facts.position_base, cost=facts.position_cost),
        open_tranches=facts.open_tranches,
        protections=Protections(
            day=today,
            week=week,
            trades_today=count_trades(today_trades, bot.id),
            realised_today=daily_pnl_bot,
            realised_week=weekly_pnl_bot,
            last_fill_at=facts.last_fill_at,
            recent_exits=tuple(exits),
            lock_cleared_at=facts.loss_lock_cleared_at,
            loss_lock=loss_lock(exits, now, limits, facts.loss_lock_cleared_at),
        ),
        **_orders(inflight.bot_orders),
    )
    account = AccountState(
        mode=mode,
        trading_state=effective_state(state, mode),
        day=today,
        trades_today=count_trades(today_trades),
        realised_today=realized_today,
        exposure=exposure,
        buys_in_flight=inflight.buy_quote_all,
        # Unknown fails closed (left out); in-flight orders the read may not show are taken off.
        balances={b.currency: b.available - inflight.unheld.get(b.currency, ZERO) for b in balances.values()},
    )
    context = safety_context(bot_state, account, request, product, now)
    return Gathered(context, facts, bot_state, account)


def _orders(orders: tuple[OrderInFlight, ...]) -> dict[str, Any]:
    """The bot's non-final orders in the state's slots: the one the sync drives, the others."""
    driven = [o for o in orders if not o.needs_attention]
    stuck = tuple(o for o in orders if o.needs_attention)
    return {"order": driven[0] if driven else None, "attention": stuck, "also_in_flight": tuple(driven[1:])}
