"""Read models for the API, CLI and dashboard. Read-only: nothing here writes.

Everything a GET returns is built from stored state plus pure domain functions evaluated at the
clock's "now" (e.g. confirmation progress), so polling can never change the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.confirmation import status_of
from coinpilot.domain.position import PositionState
from coinpilot.domain.temperature import temperature
from coinpilot.domain.types import TradingMode
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot, Position, Trade


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def bot_dict(bot: Bot) -> dict[str, Any]:
    return {
        "id": bot.id,
        "name": bot.name,
        "description": bot.description,
        "pair": bot.pair,
        "status": bot.status.value,
        "status_reason": bot.status_reason,
        "granularity": bot.granularity.value,
        "signal_config": bot.signal_config,
        "buy_threshold": bot.buy_threshold,
        "sell_threshold": bot.sell_threshold,
        "confirmation_minutes": bot.confirmation_minutes,
        "trade_size_usd": money(bot.trade_size_usd),
        "cooldown_minutes": bot.cooldown_minutes,
        "max_tranches": bot.max_tranches,
        "stop_loss_pct": money(bot.stop_loss_pct),
        "take_profit_pct": money(bot.take_profit_pct),
        "strategy": bot.strategy or {},
        # A person turned the position's automatic stop-loss / trailing / take-profit off.
        "protection_off": bool(bot.runtime.protection_off) if bot.runtime else False,
        "effective_strategy": effective_strategy_dict(bot),
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
        "archived_at": iso(bot.archived_at),
    }


def effective_strategy_dict(bot: Bot) -> dict[str, Any] | None:
    """The strategy the engine runs (bot-level stop/take-profit applied), for the edit form."""
    from coinpilot.engine.loop.bot_loop import effective_strategy

    try:
        return effective_strategy(bot.strategy, bot_repo.bot_config(bot)).to_dict()
    except (ValueError, TypeError, KeyError):
        return None


def confirmation_dict(bot: Bot, now: datetime) -> dict[str, Any]:
    state = bot_repo.confirmation_state(bot.runtime)
    status = status_of(state, now, timedelta(minutes=bot.confirmation_minutes))
    return status.to_dict()


def temperature_dict(bot: Bot) -> dict[str, Any] | None:
    rt = bot.runtime
    if rt is None or rt.last_score is None:
        return None
    return temperature(rt.last_score, bot.buy_threshold, bot.sell_threshold).to_dict()


def position_state(pos: Position) -> PositionState:
    return PositionState(
        base_size=pos.base_size,
        cost=pos.cost,
        realized_pnl=pos.realized_pnl,
        total_fees=pos.total_fees,
    )


def trade_brief(t: Trade | Any, bot_name: str | None = None) -> dict[str, Any]:
    """A trade's row in a list (``t``: the ORM object or a Core row of the same columns)."""
    return {
        "id": t.id,
        "bot_id": t.bot_id,
        "bot_name": bot_name,
        "pair": t.pair,
        "side": t.side.value,
        "intent": t.intent.value,
        "status": t.status.value,
        "mode": t.mode.value,
        "created_at": iso(t.created_at),
        "requested_quote_size": money(t.requested_quote_size),
        "requested_base_size": money(t.requested_base_size),
        "filled_base_size": money(t.filled_base_size),
        "average_fill_price": money(t.average_fill_price),
        "filled_value": money(t.filled_value),
        "fees": money(t.fees),
        "realized_pnl": money(t.realized_pnl),
        "failure_reason": t.failure_reason,
        "attention_reason": t.attention_reason,
    }


def trades_for_bot(session: Session, mode: TradingMode, bot_id: int, limit: int) -> list[Trade]:
    return list(
        session.scalars(
            sa.select(Trade)
            .where(Trade.bot_id == bot_id, Trade.mode == mode)
            .order_by(Trade.id.desc())
            .limit(limit)
        )
    )


def mark_price(market: Any, pair: str, fallback: Decimal | None) -> Decimal | None:
    """The best bid (what selling would fetch), or the last stored price if the market is down."""
    try:
        quote = market.get_best_bid_ask([pair]).get(pair)
    except Exception:
        return fallback
    return quote.bid if quote is not None else fallback


def recent_trades(session: Session, mode: TradingMode, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Trade, Bot.name)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode)
        .order_by(Trade.id.desc())
        .limit(limit)
    ).all()
    return [trade_brief(t, name) for t, name in rows]
