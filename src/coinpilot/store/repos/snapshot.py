"""Gather the :class:`SafetyContext` for one request from persisted data.

Called inside the trading-lock transaction, so every counter reflects every trade committed
before it. Market inputs (product, balances) are fetched by the caller before the lock, to keep
the lock short; they are passed in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.exchange_values import Balance
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import loss_lock, window_start
from coinpilot.domain.market import Product
from coinpilot.domain.safety import SafetyContext, day_start, week_start
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.store.models import Bot, BotRuntime, ControlState, Position, Trade, Tranche
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.control import effective_state
from coinpilot.store.repos.trade_counters import counts_against_limits

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
    trades_today_total: int
    trades_today_bot: int
    last_fill_at: datetime | None
    loss_lock_cleared_at: datetime | None = None  # a person's last resume


def _locked_facts_statement() -> sa.Select[Any]:
    mode: sa.BindParameter[Any] = sa.bindparam("mode")
    today: sa.BindParameter[Any] = sa.bindparam("today")
    counted_today = sa.and_(Trade.mode == mode, Trade.created_at >= today, counts_against_limits())
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
            sa.select(sa.func.count(Trade.id)).where(counted_today).scalar_subquery(),
            sa.select(sa.func.count(Trade.id)).where(counted_today, Trade.bot_id == Bot.id).scalar_subquery(),
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


def locked_facts(session: Session, bot_id: int, mode: TradingMode, today: datetime) -> LockedFacts | None:
    """Bot, position, today's trade counts and the last fill; None if the bot does not exist.
    Same answers as :func:`bot_facts`, the ORM position, ``count_trades_since`` and
    ``last_fill_per_bot`` (a test holds them equal)."""
    row = (
        session.connection().execute(_LOCKED_FACTS, {"bot_id": bot_id, "mode": mode, "today": today}).first()
    )
    if row is None:
        return None
    return LockedFacts(
        bot=BotFacts(row[0], row[1], BotStatus(row[2]), row[3], row[4]),
        position_id=row[5],
        position_base=row[6] if row[6] is not None else ZERO,
        position_cost=row[7] if row[7] is not None else ZERO,
        open_tranches=int(row[8] or 0),
        trades_today_total=int(row[9] or 0),
        trades_today_bot=int(row[10] or 0),
        last_fill_at=row[11],
        loss_lock_cleared_at=row[12],
    )


@dataclass(frozen=True)
class Gathered:
    context: SafetyContext
    facts: LockedFacts


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
    balances_read_at: datetime | None = None,
    exclude_trade_id: int | None = None,
) -> Gathered | None:
    """Everything ``safety.validate`` needs, read from the database (mode-filtered); None if
    the bot does not exist.

    ``balances`` were read before the lock (at ``balances_read_at``); what every bot's in-flight
    orders will take that the read may not show is subtracted here, under the lock, so balance
    checks (the reserve, coins to sell) see what the account will really have left."""
    today = day_start(now)
    week = week_start(now)
    # In-flight buys are read BEFORE the position and the exposure: on PostgreSQL a settlement
    # may commit between the reads (it holds the trade's row lock, not the trading lock); in
    # this order a trade settling in between is counted twice (stricter), never missed.
    inflight = trade_repo.in_flight(session, mode, bot_id, balances_read_at or now, exclude_trade_id)
    facts = locked_facts(session, bot_id, mode, today)
    if facts is None:
        return None
    bot = facts.bot
    exposure = position_repo.total_cost(session, mode)
    realized_today, daily_pnl_bot, weekly_pnl_bot = trade_repo.realized_today_and_week(
        session, mode, today, week, bot.id
    )
    since = window_start(now, limits, facts.loss_lock_cleared_at)
    exits = trade_repo.recent_exits(session, mode, bot.id, since, limits.max_consecutive_losses)
    lock = loss_lock(exits, now, limits, facts.loss_lock_cleared_at)
    quote = balances.get(product.quote_currency)
    base = balances.get(product.base_currency)
    context = SafetyContext(
        now=now,
        mode=mode,
        trading_state=effective_state(state, mode),
        bot_status=bot.status,
        bot_cooldown_minutes=bot.cooldown_minutes,
        bot_max_tranches=bot.max_tranches,
        product=product,
        trades_today_total=facts.trades_today_total,
        trades_today_bot=facts.trades_today_bot,
        last_fill_at=facts.last_fill_at,
        has_open_trade=inflight.bot_has_open_trade,
        trade_needs_attention=inflight.bot_needs_attention,
        position_tranches=facts.open_tranches,
        position_base=facts.position_base,
        # Buys in flight count as exposure until settled: limits can only be stricter.
        position_cost=facts.position_cost + inflight.buy_quote_bot,
        total_exposure=exposure + inflight.buy_quote_all,
        realized_pnl_today=realized_today,
        consecutive_losses=lock.losses,
        loss_lock_until=lock.until,
        weekly_pnl_position=weekly_pnl_bot,
        daily_pnl_position=daily_pnl_bot,
        # Unknown fails closed; in-flight orders the read may not show are taken off.
        quote_available=_left(quote, inflight.unheld),
        base_available=_left(base, inflight.unheld),
    )
    return Gathered(context, facts)


def _left(balance: Balance | None, unheld: dict[str, Decimal]) -> Decimal | None:
    if balance is None:
        return None
    return balance.available - unheld.get(balance.currency, ZERO)
