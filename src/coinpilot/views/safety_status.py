"""The safety status: the limits and how much of them is used, per bot and in total.

What ``coinpilot safety-status`` and ``GET /api/v1/safety`` show next to the trading state
(:func:`safety_status` adds the trading state). A read model of
its own, apart from the control actions: it reads with the overview's loader, so it costs a
fixed number of statements whatever the number of bots.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import LossLock, loss_lock
from coinpilot.domain.safety import day_start, week_start
from coinpilot.domain.types import TradingMode
from coinpilot.domain.usage import cooldown_minutes, cooldown_remaining
from coinpilot.engine.risk.control import ControlService
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.overview import bots_with_open_trades, load_overview, realized_per_bot_since


def usage_status(
    sf: sessionmaker[Session], mode: TradingMode, now: datetime, limits: SafetyLimits
) -> dict[str, Any]:
    """Limits, today's usage (global and per bot), cooldowns, loss locks and exposure at ``now``
    (not yet JSON-ready: the caller adds the trading state and serialises)."""
    today, week = day_start(now), week_start(now)
    with sf() as s:
        # The overview's loader: a fixed number of statements whatever the number of bots.
        facts = load_overview(s, mode, today, recent_limit=0)
        weekly = realized_per_bot_since(s, mode, week)
        open_bots = bots_with_open_trades(s, mode)
        attention = trade_repo.needs_attention_per_bot(s, mode)
        exposure = position_repo.total_cost(s, mode)
        inflight = facts.inflight_buys
        realised_today = facts.realized_today_total
        per_bot = facts.trades_today
        bot_rows = []
        for b in facts.bots:
            pos = facts.positions.get(b.id)
            last = facts.last_fill.get(b.id)
            remaining = cooldown_remaining(now, last, limits, b.cooldown_minutes).total_seconds()
            cleared = b.runtime.loss_lock_cleared_at if b.runtime else None
            lock = loss_lock(facts.recent_exits.get(b.id, []), now, limits, cleared)
            lock = lock if lock.active(now) else LossLock(lock.losses, None)
            bot_rows.append(
                {
                    "bot_id": b.id,
                    "name": b.name,
                    "pair": b.pair,
                    "status": str(b.status),
                    "status_reason": b.status_reason,
                    "trades_today": per_bot.get(b.id, 0),
                    "max_daily_trades_per_bot": limits.max_daily_trades_per_bot,
                    "cooldown_minutes": cooldown_minutes(limits, b.cooldown_minutes),
                    "last_fill_at": last,
                    "cooldown_remaining_seconds": Decimal(str(round(remaining, 3))),
                    # The loss lock as the safety check computes it (domain/loss_lock.py).
                    "consecutive_losses": lock.losses,
                    "loss_lock_until": lock.until,
                    "weekly_realized_pnl": weekly.get(b.id, Decimal(0)),
                    "position_cost": pos.cost if pos else Decimal(0),
                    "position_base": pos.base_size if pos else Decimal(0),
                    "tranches": facts.open_tranches.get(pos.id, 0) if pos else 0,
                    "has_open_trade": b.id in open_bots,
                    "needs_attention": [
                        {"trade_id": tid, "reason": why} for tid, why in attention.get(b.id, [])
                    ],
                }
            )
    return {
        "now": now,
        "limits": limits,
        "today": {
            "day_start": today,
            "trades": sum(per_bot.values()),
            "max_daily_trades": limits.max_daily_trades,
            "realized_pnl": realised_today,
            "daily_loss_limit_usd": limits.daily_loss_limit_usd,
        },
        "exposure": {
            "positions_cost": exposure,
            "in_flight_buys": inflight,
            "total": exposure + inflight,
            "max": limits.max_total_exposure_usd,
        },
        "bots": bot_rows,
    }


def safety_status(control: ControlService, limits: SafetyLimits) -> dict[str, Any]:
    """Limits, today's usage (global and per bot), cooldowns, the trading state and the mode."""
    usage = usage_status(control.session_factory, control.mode, control.clock.now(), limits)
    return dict(jsonable({**control.state(), **usage}))
