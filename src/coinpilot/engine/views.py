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
from coinpilot.domain.types import BotStatus, TradeStatus, TradingMode
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot, Position, Trade
from coinpilot.store.repos import trades as trade_repo


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
        "effective_strategy": effective_strategy_dict(bot),
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
    }


def effective_strategy_dict(bot: Bot) -> dict[str, Any] | None:
    """The strategy the engine runs (bot-level stop/take-profit applied), for the edit form."""
    from coinpilot.engine.bot_loop import effective_strategy

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


def position_dict(pos: Position | None, mark: Decimal | None, max_tranches: int) -> dict[str, Any] | None:
    if pos is None:
        return None
    state = position_state(pos)
    open_tranches = [t for t in pos.tranches if t.closed_at is None]
    unrealized = state.unrealized_pnl(mark) if mark is not None and pos.base_size > 0 else Decimal(0)
    return {
        "status": pos.status.value,
        "mode": pos.mode.value,
        "base_size": money(pos.base_size),
        "avg_entry_price": money(state.avg_entry_price),
        "cost": money(pos.cost),
        "unrealized_pnl": money(unrealized),
        "realized_pnl": money(pos.realized_pnl),
        "total_fees": money(pos.total_fees),
        "tranches": len(open_tranches),
        "max_tranches": max_tranches,
        "mark_price": money(mark),
    }


def trade_brief(t: Trade, bot_name: str | None = None) -> dict[str, Any]:
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


def last_fill_time(session: Session, bot_id: int, mode: TradingMode) -> datetime | None:
    return session.scalar(
        sa.select(sa.func.max(Trade.filled_at)).where(Trade.bot_id == bot_id, Trade.mode == mode)
    )


def bot_live_dict(
    session: Session,
    bot: Bot,
    now: datetime,
    mode: TradingMode,
    cooldown_floor_minutes: float,
    position: Position | None,
    last_trade: Trade | None,
) -> dict[str, Any]:
    rt = bot.runtime
    mark = rt.last_price if rt is not None else None
    cooldown = max(cooldown_floor_minutes, bot.cooldown_minutes)
    last_fill = last_fill_time(session, bot.id, mode)
    remaining = 0.0
    if last_fill is not None:
        remaining = max(0.0, (last_fill + timedelta(minutes=cooldown) - now).total_seconds())
    return {
        "id": bot.id,
        "name": bot.name,
        "pair": bot.pair,
        "status": bot.status.value,
        "status_reason": bot.status_reason,
        "buy_threshold": bot.buy_threshold,
        "sell_threshold": bot.sell_threshold,
        "score": None if rt is None else rt.last_score,
        "action": None if rt is None or rt.last_action is None else rt.last_action.value,
        "price": money(mark),
        "temperature": temperature_dict(bot),
        "confirmation": confirmation_dict(bot, now),
        "signals": (rt.last_breakdown if rt is not None else None) or [],
        "last_evaluated_at": iso(rt.last_evaluated_at) if rt is not None else None,
        "last_error": rt.last_error if rt is not None else None,
        "position": position_dict(position, mark, bot.max_tranches),
        "last_trade": None if last_trade is None else trade_brief(last_trade, bot.name),
        "cooldown_remaining_seconds": remaining,
    }


def positions_by_bot(session: Session, mode: TradingMode) -> dict[int, Position]:
    rows = session.scalars(sa.select(Position).where(Position.mode == mode))
    return {p.bot_id: p for p in rows}


def last_trades_by_bot(session: Session, mode: TradingMode) -> dict[int, Trade]:
    latest = (
        sa.select(sa.func.max(Trade.id).label("id"))
        .where(Trade.mode == mode)
        .group_by(Trade.bot_id)
        .subquery()
    )
    rows = session.scalars(sa.select(Trade).join(latest, Trade.id == latest.c.id))
    return {t.bot_id: t for t in rows}


def recent_trades(session: Session, mode: TradingMode, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(Trade, Bot.name)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode)
        .order_by(Trade.id.desc())
        .limit(limit)
    ).all()
    return [trade_brief(t, name) for t, name in rows]


def count_trades_today(session: Session, mode: TradingMode, day_start: datetime) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count(Trade.id)).where(
                Trade.mode == mode,
                Trade.created_at >= day_start,
                Trade.status != TradeStatus.FAILED,
            )
        )
        or 0
    )


def running_count(bots: list[Bot]) -> int:
    return sum(1 for b in bots if b.status == BotStatus.RUNNING)


def status_summary(
    session: Session, now: datetime, mode: TradingMode, limits: Any, day_start: datetime
) -> dict[str, Any]:
    """Everything the dashboard polls every 5 seconds, in one read-only query batch."""
    from coinpilot.store.models import ControlState

    bots = bot_repo.list_bots(session)
    positions = positions_by_bot(session, mode)
    last_trades = last_trades_by_bot(session, mode)
    control = session.get(ControlState, 1)
    bot_rows = [
        bot_live_dict(
            session, b, now, mode, float(limits.cooldown_minutes), positions.get(b.id), last_trades.get(b.id)
        )
        for b in bots
    ]
    realized_total = sum((p.realized_pnl for p in positions.values()), Decimal(0))
    exposure = sum((p.cost for p in positions.values() if p.base_size > 0), Decimal(0))
    unrealized_total = Decimal(0)
    for row in bot_rows:
        pos = row["position"]
        if pos is not None and pos["unrealized_pnl"] is not None:
            unrealized_total += Decimal(pos["unrealized_pnl"])
    return {
        "generated_at": now.isoformat(),
        "mode": mode.value,
        "trading": {
            "enabled": bool(control and control.trading_enabled),
            "emergency_stop": bool(control and control.emergency_stop),
            "emergency_reason": control.emergency_reason if control else None,
            "emergency_at": iso(control.emergency_at) if control else None,
        },
        "safety": {
            "trades_today": count_trades_today(session, mode, day_start),
            "max_daily_trades": limits.max_daily_trades,
            "realized_pnl_today": money(trade_repo.realized_since(session, mode, day_start)),
            "daily_loss_limit_usd": money(limits.daily_loss_limit_usd),
            "max_trade_usd": money(limits.max_trade_usd),
        },
        "totals": {
            "bots": len(bots),
            "running": running_count(bots),
            "realized_pnl": money(realized_total),
            "unrealized_pnl": money(unrealized_total),
            "exposure": money(exposure),
        },
        "bots": bot_rows,
        "recent_trades": recent_trades(session, mode),
    }
