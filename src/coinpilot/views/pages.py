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
from coinpilot.store.models import Bot, ControlState, Position, SafetyAudit, Trade
from coinpilot.store.repos.dto import TradeDTO, position_dto, trade_dto
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.views.overview import bot_overview_row, trading_dict
from coinpilot.views.rows import bot_dict, iso, money

TRADES_ON_PAGE = 200
AUDITS_ON_PAGE = 50
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


def bot_page(
    session: Session,
    bot_id: int,
    now: datetime,
    mode: TradingMode,
    limits: SafetyLimits,
    today: datetime,
    stale_after: timedelta,
) -> dict[str, Any] | None:
    bot = bot_repo.get_bot(session, bot_id)
    if bot is None:
        return None
    pos = session.scalar(
        sa.select(Position)
        .where(Position.bot_id == bot_id, Position.mode == mode)
        .options(selectinload(Position.tranches))
    )
    trades = session.scalars(
        sa.select(Trade)
        .where(Trade.bot_id == bot_id, Trade.mode == mode)
        .options(selectinload(Trade.fills))
        .order_by(Trade.id.desc())
        .limit(TRADES_ON_PAGE)
    ).all()
    audits = session.scalars(
        sa.select(SafetyAudit)
        .where(SafetyAudit.bot_id == bot_id, SafetyAudit.mode == mode)
        .order_by(SafetyAudit.id.desc())
        .limit(AUDITS_ON_PAGE)
    ).all()
    evaluations = bot_repo.evaluation_history(session, bot_id, EVALUATIONS_ON_PAGE)
    mark = bot.runtime.last_price if bot.runtime is not None else None
    return {
        "mode": mode.value,
        "generated_at": now.isoformat(),
        "trading": trading_dict(session.get(ControlState, 1), mode),
        "bot": bot_dict(bot),
        "live": bot_overview_row(session, bot_id, now, mode, limits, today, stale_after),
        "position": position_dto(pos, mark).to_dict() if pos is not None else None,
        "levels": _levels(bot, pos),
        "trades": [trade_dto(t).to_dict() for t in trades],
        "safety_decisions": [_audit(a) for a in audits],
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
