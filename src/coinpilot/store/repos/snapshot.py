"""Gather the :class:`SafetyContext` for one request from persisted data.

Called inside the trading-lock transaction, so every counter reflects every trade committed
before it. Market inputs (product, balances) are fetched by the caller before the lock, to keep
the lock short; they are passed in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.market import Product
from coinpilot.domain.safety import SafetyContext, day_start, week_start
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.exchange.base import Balance
from coinpilot.store.models import Bot, ControlState
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.control import trading_enabled_for

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
class Gathered:
    context: SafetyContext
    position_id: int | None  # None: the bot has no position row in this mode yet


def gather_context(
    session: Session,
    *,
    now: datetime,
    mode: TradingMode,
    state: ControlState,
    bot: BotFacts,
    product: Product,
    balances: dict[str, Balance],
) -> Gathered:
    """Everything ``safety.validate`` needs, read from the database (mode-filtered)."""
    today = day_start(now)
    week = week_start(now)
    # In-flight buys are read BEFORE positions: on PostgreSQL a settlement may commit between
    # the two reads (it holds the trade's row lock, not the trading lock); in this order a
    # trade settling in between is counted twice (stricter), never missed.
    inflight = trade_repo.in_flight(session, mode, bot.id)
    pos = position_repo.position_facts(session, bot.id, mode)
    exposure = position_repo.total_cost(session, mode)
    trades_today_total, trades_today_bot = trade_repo.count_trades_since_total_and_bot(
        session, mode, today, bot.id
    )
    realized_today, daily_pnl_bot, weekly_pnl_bot = trade_repo.realized_today_and_week(
        session, mode, today, week, bot.id
    )
    quote = balances.get(product.quote_currency)
    base = balances.get(product.base_currency)
    context = SafetyContext(
        now=now,
        mode=mode,
        trading_enabled=trading_enabled_for(state, mode),
        emergency_stop=bool(state.emergency_stop),
        bot_status=bot.status,
        bot_cooldown_minutes=bot.cooldown_minutes,
        bot_max_tranches=bot.max_tranches,
        product=product,
        trades_today_total=trades_today_total,
        trades_today_bot=trades_today_bot,
        last_fill_at=trade_repo.last_fill_at(session, mode, bot.id),
        has_open_trade=inflight.bot_has_open_trade,
        position_tranches=pos.open_tranches,
        position_base=pos.base_size,
        # Buys in flight count as exposure until settled: limits can only be stricter.
        position_cost=pos.cost + inflight.buy_quote_bot,
        total_exposure=exposure + inflight.buy_quote_all,
        realized_pnl_today=realized_today,
        consecutive_losses=trade_repo.consecutive_losses(session, mode, bot.id),
        weekly_pnl_position=weekly_pnl_bot,
        daily_pnl_position=daily_pnl_bot,
        quote_available=quote.available if quote else None,  # unknown fails closed
        base_available=base.available if base else None,
    )
    return Gathered(context, pos.position_id)
