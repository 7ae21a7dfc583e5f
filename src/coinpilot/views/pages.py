"""Read models for the dashboard's bot page and trade page (read-only).

The bot page gets everything it shows in one answer (config, the overview row, position with
tranches, protection levels, trades with fills, safety decisions, evaluation history); the
chart's candles come from the market API. The trade page shows what the trade knows plus the
position before it (as the safety check saw it) and after it (the same position math the engine
applies to fills).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from coinpilot.domain.levels import protection_levels
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.types import Side, TradingMode
from coinpilot.engine.loop.bot_loop import effective_strategy
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot, ControlState, Fill, Position, SafetyAudit, Trade
from coinpilot.store.repos.dto import TradeDTO, position_dto
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.overview import TRADE_BRIEF_COLUMNS
from coinpilot.views.overview import bot_overview_row, trading_dict
from coinpilot.views.rows import bot_dict, iso, money, trade_brief

# The bot page sends the newest trades (with their fills) and safety decisions a page at a time;
# the page asks for older ones on demand (``before``: the oldest id it holds).
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
EVALUATIONS_ON_PAGE = 100


def _levels(bot: Bot, pos: Position | None) -> dict[str, Any]:
    cfg = effective_strategy(bot.strategy, bot_repo.bot_config(bot))
    avg = None
    if pos is not None and pos.base_size > 0:
        avg = PositionState(base_size=pos.base_size, cost=pos.cost).avg_entry_price
    high_water = bot.runtime.high_water_price if bot.runtime is not None else None
    levels = protection_levels(cfg, avg, high_water)
    return {
        "avg_entry": money(avg),
        "stop_loss": money(levels.stop_loss),
        "stop_loss_pct": money(cfg.stop_loss_pct),
        "trailing_stop": money(levels.trailing_stop),
        "trailing_stop_pct": money(cfg.trailing_stop_pct),
        "high_water": money(high_water),
        "take_profit": [{"price": money(p), "sell_pct": money(pct)} for p, pct in levels.take_profit],
    }


def _audit(a: SafetyAudit) -> dict[str, Any]:
    decision = (a.inputs or {}).get("decision") or {}
    return {
        "id": a.id,
        "at": iso(a.created_at),
        "side": a.side.value if a.side is not None else None,
        "intent": a.intent.value if a.intent is not None else None,
        "allowed": a.allowed,
        "reasons": jsonable(a.reasons),
        "checks": decision.get("checks") or [],
        "dry_run": bool((a.request or {}).get("dry_run")),
        "request": jsonable(a.request),
    }


def trades_page(
    session: Session, bot_id: int, mode: TradingMode, limit: int = PAGE_SIZE, before: int | None = None
) -> dict[str, Any]:
    """One page of a bot's trades with their fills, newest first (``ix_trades_bot_mode_id``), and
    the cursor for the next older page (None: no older trades). Two statements whatever the page."""
    stmt = sa.select(*TRADE_BRIEF_COLUMNS).where(Trade.bot_id == bot_id, Trade.mode == mode)
    if before is not None:
        stmt = stmt.where(Trade.id < before)
    rows = session.execute(stmt.order_by(Trade.id.desc()).limit(limit + 1)).all()
    shown = rows[:limit]
    fills: dict[int, list[dict[str, Any]]] = {r.id: [] for r in shown}
    if shown:
        for f in session.execute(
            sa.select(
                Fill.trade_id, Fill.fill_id, Fill.price, Fill.base_size, Fill.fee, Fill.liquidity, Fill.time
            )
            .where(Fill.trade_id.in_(list(fills)))
            .order_by(Fill.trade_id, Fill.time, Fill.fill_id)
        ):
            fills[f.trade_id].append(
                {
                    "fill_id": f.fill_id,
                    "price": money(f.price),
                    "base_size": money(f.base_size),
                    "fee": money(f.fee),
                    "liquidity": f.liquidity,
                    "time": iso(f.time),
                }
            )
    trades = [{**trade_brief(r), "fills": fills[r.id]} for r in shown]
    more = len(rows) > limit and bool(shown)
    return {"trades": trades, "next_before": shown[-1].id if more else None}


def decisions_page(
    session: Session, bot_id: int, mode: TradingMode, limit: int = PAGE_SIZE, before: int | None = None
) -> dict[str, Any]:
    """One page of a bot's safety decisions, newest first (``ix_safety_audit_bot_mode_id``)."""
    stmt = sa.select(SafetyAudit).where(SafetyAudit.bot_id == bot_id, SafetyAudit.mode == mode)
    if before is not None:
        stmt = stmt.where(SafetyAudit.id < before)
    rows = session.scalars(stmt.order_by(SafetyAudit.id.desc()).limit(limit + 1)).all()
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return {"safety_decisions": [_audit(a) for a in shown], "next_before": shown[-1].id if more else None}


def bot_page(
    session: Session,
    bot_id: int,
    now: datetime,
    mode: TradingMode,
    limits: SafetyLimits,
    today: datetime,
    stale_after: timedelta,
    page_size: int = PAGE_SIZE,
    live: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Everything the page shows, with the first page of trades and of safety decisions (their
    ``*_next_before`` cursors fetch older ones). ``live``: the bot's overview row when the caller
    already has it (the shared overview), else it is read here."""
    bot = bot_repo.get_bot(session, bot_id)
    if bot is None:
        return None
    pos = session.scalar(
        sa.select(Position)
        .where(Position.bot_id == bot_id, Position.mode == mode)
        .options(selectinload(Position.tranches))
    )
    trades = trades_page(session, bot_id, mode, page_size)
    decisions = decisions_page(session, bot_id, mode, page_size)
    evaluations = bot_repo.evaluation_history(session, bot_id, EVALUATIONS_ON_PAGE)
    mark = bot.runtime.last_price if bot.runtime is not None else None
    return {
        "mode": mode.value,
        "generated_at": now.isoformat(),
        "trading": trading_dict(session.get(ControlState, 1), mode),
        "bot": bot_dict(bot),
        "live": live
        if live is not None
        else bot_overview_row(session, bot_id, now, mode, limits, today, stale_after),
        "position": position_dto(pos, mark).to_dict() if pos is not None else None,
        "levels": _levels(bot, pos),
        "trades": trades["trades"],
        "trades_next_before": trades["next_before"],
        "safety_decisions": decisions["safety_decisions"],
        "decisions_next_before": decisions["next_before"],
        "evaluations": [
            {
                "evaluated_at": iso(e.evaluated_at),
                "score": e.score,
                "action": e.action.value,
                "temperature": e.temperature.value,
                "price": money(e.price),
                "signals": e.breakdown,
            }
            for e in evaluations
        ],
    }


def _state_from(context: dict[str, Any] | None) -> PositionState | None:
    if not context or context.get("position_base") is None:
        return None
    return PositionState(
        base_size=Decimal(str(context["position_base"])), cost=Decimal(str(context["position_cost"]))
    )


def _position_json(state: PositionState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "base_size": money(state.base_size),
        "cost": money(state.cost),
        "avg_entry_price": money(state.avg_entry_price),
    }


def trade_page(session: Session, dto: TradeDTO) -> dict[str, Any]:
    """The trade with its safety decision in full (every check, the inputs it saw) and the
    position before and after its fills."""
    audit = session.get(SafetyAudit, dto.safety_audit_id) if dto.safety_audit_id else None
    inputs = (audit.inputs or {}) if audit is not None else {}
    context = inputs.get("context")
    before = _state_from(context)
    after = None
    realized = dto.realized_pnl
    fills = [FillAmount(f.price, f.base_size, f.fee) for f in dto.fills]
    if before is not None and fills:
        try:
            if dto.side == Side.BUY.value:
                after = apply_entry(before, fills, dto.id, dto.created_at)
            else:
                after, realized_here = apply_exit(before, fills)
                realized = realized if realized is not None else realized_here
        except ValueError:
            after = None  # the fills do not fit the position as the check saw it
    bot_name = session.scalar(sa.select(Bot.name).where(Bot.id == dto.bot_id))
    return {
        "trade": dto.to_dict(),
        "bot_name": bot_name,
        "safety": None
        if audit is None
        else {
            "audit_id": audit.id,
            "at": iso(audit.created_at),
            "allowed": audit.allowed,
            "reasons": jsonable(audit.reasons),
            "checks": (inputs.get("decision") or {}).get("checks") or [],
            "context": context,
            "limits": inputs.get("limits"),
            "request": jsonable(audit.request),
        },
        "position_before": _position_json(before),
        "position_after": _position_json(after),
        "realized_pnl": money(realized),
    }
