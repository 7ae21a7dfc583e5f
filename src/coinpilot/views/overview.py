"""The dashboard overview: every bot's row, today's safety usage and the totals, in one answer.

Built from :func:`coinpilot.store.repos.overview.load_overview` (a fixed number of statements
whatever the number of bots) and the domain functions the safety check itself uses
(``domain/usage.py`` for trades left, cooldown and loss streak, ``PositionState`` for unrealised
P&L), so the screen can never show a second opinion of a limit. Read-only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from coinpilot.domain.confirmation import status_of
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import loss_lock, window_start
from coinpilot.domain.trading_state import NOT_ENABLED_REASON, TradingState
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.domain.usage import bot_usage
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot, ControlState
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos.overview import OverviewFacts, load_overview
from coinpilot.views.rows import (
    iso,
    money,
    position_state,
    temperature_dict,
    trade_brief,
)

ZERO = Decimal(0)


def _confirmation(bot: Bot, now: datetime) -> dict[str, Any]:
    """Live progress only for a RUNNING bot: a stopped or paused bot is confirming nothing."""
    required = timedelta(minutes=bot.confirmation_minutes)
    if bot.status is not BotStatus.RUNNING:
        return {
            "action": None,
            "required_seconds": required.total_seconds(),
            "inactive": f"bot is {bot.status.value}",
        }
    return status_of(bot_repo.confirmation_state(bot.runtime), now, required).to_dict()


def _position(
    facts: OverviewFacts, bot: Bot, mark: Decimal | None, max_tranches: int
) -> dict[str, Any] | None:
    pos = facts.positions.get(bot.id)
    if pos is None:
        return None
    state = position_state(pos)
    unrealized = state.unrealized_pnl(mark) if mark is not None and pos.base_size > 0 else ZERO
    return {
        "status": pos.status.value,
        "mode": pos.mode.value,
        "base_size": money(pos.base_size),
        "avg_entry_price": money(state.avg_entry_price),
        "cost": money(pos.cost),
        "unrealized_pnl": money(unrealized),
        "realized_pnl": money(pos.realized_pnl),
        "total_fees": money(pos.total_fees),
        "tranches": facts.open_tranches.get(pos.id, 0),
        "max_tranches": max_tranches,
        "mark_price": money(mark),
        # unsellable remainders below the product's increment/minimum (cycles closed)
        "dust_base_size": money(pos.dust_base_size),
        "dust_value": money(pos.dust_value),
    }


def _bot_row(
    facts: OverviewFacts, bot: Bot, now: datetime, limits: SafetyLimits, stale_after: timedelta
) -> dict[str, Any]:
    rt = bot.runtime
    mark = rt.last_price if rt is not None else None
    pos = facts.positions.get(bot.id)
    # The safety check's own loss lock (window, reset on resume, expiry) over the newest exits.
    cleared = rt.loss_lock_cleared_at if rt is not None else None
    lock = loss_lock(facts.recent_exits.get(bot.id, []), now, limits, cleared)
    usage = bot_usage(
        now=now,
        limits=limits,
        bot_cooldown_minutes=bot.cooldown_minutes,
        bot_max_tranches=bot.max_tranches,
        trades_today=facts.trades_today.get(bot.id, 0),
        last_fill_at=facts.last_fill.get(bot.id),
        consecutive_losses=lock.losses,
        realized_pnl_today=facts.realized_today.get(bot.id, ZERO),
        position_cost=pos.cost if pos is not None and pos.base_size > 0 else ZERO,
        open_tranches=facts.open_tranches.get(pos.id, 0) if pos is not None else 0,
    )
    evaluated = rt.last_evaluated_at if rt is not None else None
    stale = bot.status is BotStatus.RUNNING and (evaluated is None or now - evaluated > stale_after)
    last = facts.last_trades.get(bot.id)
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
        "confirmation": _confirmation(bot, now),
        "signals": (rt.last_breakdown if rt is not None else None) or [],
        "last_evaluated_at": iso(evaluated),
        "stale": stale,
        "last_error": rt.last_error if rt is not None else None,
        "position": _position(facts, bot, mark, usage.max_tranches),
        "last_trade": None if last is None else trade_brief(last, bot.name),
        "cooldown_remaining_seconds": usage.cooldown_remaining_seconds,
        "usage": {
            "trades_today": usage.trades_today,
            "max_trades_today": usage.max_trades_today,
            "trades_left": usage.trades_left,
            "cooldown_minutes": usage.cooldown_minutes,
            "cooldown_remaining_seconds": usage.cooldown_remaining_seconds,
            "consecutive_losses": usage.consecutive_losses,
            "loss_lock_until": iso(lock.until) if lock.active(now) else None,
            "max_consecutive_losses": usage.max_consecutive_losses,
            "realized_pnl_today": money(usage.realized_pnl_today),
            "daily_loss_limit_usd": money(usage.daily_loss_limit),
            "position_cost": money(usage.position_cost),
            "max_position_usd": money(usage.max_position_cost),
            "tranches": usage.tranches,
            "max_tranches": usage.max_tranches,
        },
    }


def trading_dict(control: ControlState | None, mode: TradingMode) -> dict[str, Any]:
    """The trading state as the dashboard shows it: state, reason, who and since when."""
    if control is None:
        state, reason, by, since = TradingState.HALTED, NOT_ENABLED_REASON, None, None
    else:
        status = control_repo.status_of(control)
        state = status.effective(mode)
        reason = status.reason if state is status.state else f"not enabled for {mode.value} mode"
        by, since = status.by, iso(status.since)
    return {
        "trading_state": state.value,
        "trading_state_reason": reason,
        "state": state.value,
        "reason": reason,
        "by": by,
        "since": since,
    }


def build_overview(
    session: Session,
    now: datetime,
    mode: TradingMode,
    limits: SafetyLimits,
    today: datetime,
    stale_after: timedelta,
) -> dict[str, Any]:
    facts = load_overview(session, mode, today, exits_since=window_start(now, limits, None))
    rows = [_bot_row(facts, b, now, limits, stale_after) for b in facts.bots]
    open_positions = [p for p in facts.positions.values() if p.base_size > 0]
    exposure = sum((p.cost for p in open_positions), ZERO)
    unrealized = sum(
        (Decimal(r["position"]["unrealized_pnl"]) for r in rows if r["position"] is not None), ZERO
    )
    realized_total = sum((p.realized_pnl for p in facts.positions.values()), ZERO)
    value = sum(
        (
            Decimal(r["position"]["cost"]) + Decimal(r["position"]["unrealized_pnl"])
            for r in rows
            if r["position"] is not None and Decimal(r["position"]["base_size"]) > 0
        ),
        ZERO,
    )
    wallet = None
    if mode is TradingMode.MOCK:
        wallet = {c: money(v) for c, v in sorted(facts.paper_balances.items())}
        usd = facts.paper_balances.get("USD")
        portfolio = value + usd if usd is not None else None
    else:
        portfolio = None  # production balances live on the exchange; never polled here
    return {
        "generated_at": now.isoformat(),
        "mode": mode.value,
        "trading": trading_dict(facts.control, mode),
        "safety": {
            "trades_today": facts.trades_today_total,
            "max_daily_trades": limits.max_daily_trades,
            "max_daily_trades_per_bot": limits.max_daily_trades_per_bot,
            "realized_pnl_today": money(facts.realized_today_total),
            "unrealized_pnl": money(unrealized),
            "daily_loss_limit_usd": money(limits.daily_loss_limit_usd),
            "max_trade_usd": money(limits.max_trade_usd),
            "exposure": money(exposure + facts.inflight_buys),
            "in_flight_buys": money(facts.inflight_buys),
            "max_total_exposure_usd": money(limits.max_total_exposure_usd),
        },
        "totals": {
            "bots": len(facts.bots),
            "running": sum(1 for b in facts.bots if b.status is BotStatus.RUNNING),
            "realized_pnl": money(realized_total),
            "unrealized_pnl": money(unrealized),
            "exposure": money(exposure),
            "positions_value": money(value),
            "portfolio_value": money(portfolio),
        },
        "paper_wallet": wallet,
        "bots": rows,
        "recent_trades": [trade_brief(t, name) for t, name in facts.recent_trades],
    }


def bot_overview_row(
    session: Session,
    bot_id: int,
    now: datetime,
    mode: TradingMode,
    limits: SafetyLimits,
    today: datetime,
    stale_after: timedelta,
) -> dict[str, Any] | None:
    """One bot's overview row (its page shows the same figures as the overview)."""
    facts = load_overview(
        session, mode, today, recent_limit=0, bot_id=bot_id, exits_since=window_start(now, limits, None)
    )
    if not facts.bots:
        return None
    return _bot_row(facts, facts.bots[0], now, limits, stale_after)
