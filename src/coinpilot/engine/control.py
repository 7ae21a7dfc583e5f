"""Control state: the trading switch, the emergency stop, and the safety status for the API.

Trading starts disabled and is switched on per mode by a person (audited as a ControlEvent).
The emergency stop is persisted (it survives a restart), disables trading, blocks every new
entry at once (the safety check reads it under the trading lock) and is released only by an
explicit :meth:`ControlService.release_emergency`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety import day_start, week_start
from coinpilot.domain.types import Side, TradeIntent, TradingMode
from coinpilot.domain.usage import cooldown_minutes, cooldown_remaining, loss_streak
from coinpilot.engine.execution import InvalidTradeRequest, TradeService
from coinpilot.engine.sync import OrderSync
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.overview import bots_with_open_trades, load_overview, realized_per_bot_since

log = logging.getLogger(__name__)


class ControlError(Exception):
    """A control action was refused; the message says why and what to do."""


@dataclass
class EmergencyReport:
    engaged: bool  # False when the stop was already engaged
    cancelled: dict[str, bool] = field(default_factory=dict)
    closing: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self.__dict__))


class ControlService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        mode: TradingMode,
        *,
        exchange: Exchange | None = None,
        trade_service: TradeService | None = None,
    ) -> None:
        self._sf = session_factory
        self._clock = clock
        self._mode = TradingMode(mode)
        self._exchange = exchange
        self._trades = trade_service

    @property
    def mode(self) -> TradingMode:
        return self._mode

    # ---- switches ----------------------------------------------------------------------
    def enable_trading(self, actor: str, *, production_ready: bool = False) -> dict[str, Any]:
        """Switch trading on for this process's mode. Production needs ``production_ready``
        (the process runs in production mode with exchange keys configured)."""
        if self._mode == TradingMode.PRODUCTION and not production_ready:
            raise ControlError(
                "production trading cannot be enabled: configure Coinbase API keys and start "
                "Coinpilot in production mode (COINPILOT_TRADING_MODE=production) first"
            )
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            if state.emergency_stop:
                raise ControlError(
                    "the emergency stop is engaged: release it explicitly before enabling trading"
                )
            state.trading_enabled = True
            state.enabled_mode = self._mode
            state.updated_at = now
            control_repo.record_event(s, at=now, action="enable_trading", actor=actor, mode=self._mode)
        return self.state()

    def disable_trading(self, actor: str, reason: str = "") -> dict[str, Any]:
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            state.trading_enabled = False
            state.updated_at = now
            control_repo.record_event(
                s,
                at=now,
                action="disable_trading",
                actor=actor,
                mode=self._mode,
                detail={"reason": reason} if reason else {},
            )
        return self.state()

    def engage_emergency(
        self,
        actor: str,
        reason: str = "emergency stop",
        *,
        cancel_open_orders: bool = False,
        close_positions: bool = False,
    ) -> EmergencyReport:
        """Stop everything now (committed before anything else happens), then optionally cancel
        open orders and close positions with EMERGENCY_CLOSE sells through the normal path."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            engaged = control_repo.engage_emergency(s, state, now=now, reason=reason)
            control_repo.record_event(
                s,
                at=now,
                action="emergency_stop",
                actor=actor,
                mode=self._mode,
                detail={
                    "reason": reason,
                    "cancel_open_orders": cancel_open_orders,
                    "close_positions": close_positions,
                    "already_engaged": not engaged,
                },
            )
        report = EmergencyReport(engaged=engaged)
        if cancel_open_orders:
            self._cancel_open_orders(report)
        if cancel_open_orders or close_positions:
            self._sync_open_trades(report)  # settle what finished, so closes see every fill
        if close_positions:
            self._close_positions(report)
        return report

    def _sync_open_trades(self, report: EmergencyReport) -> None:
        if self._exchange is None:
            return
        try:
            result = OrderSync(self._sf, self._exchange, self._clock, self._mode).sync_all()
            report.errors += result.errors
        except Exception as exc:
            report.errors.append(f"syncing open trades failed: {exc}")

    def release_emergency(self, actor: str, note: str = "") -> dict[str, Any]:
        """Release the stop. Trading stays disabled until someone enables it again."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            if not state.emergency_stop:
                raise ControlError("the emergency stop is not engaged")
            control_repo.record_event(
                s,
                at=now,
                action="release_emergency",
                actor=actor,
                mode=self._mode,
                detail={"released_reason": state.emergency_reason, "note": note},
            )
            state.emergency_stop = False
            state.emergency_reason = None
            state.emergency_at = None
            state.trading_enabled = False
            state.updated_at = now
        return self.state()

    def _cancel_open_orders(self, report: EmergencyReport) -> None:
        if self._exchange is None:
            report.errors.append("no exchange configured: open orders were not cancelled")
            return
        with self._sf() as s:
            ids = [t.order_id for t in trade_repo.open_trades(s, self._mode) if t.order_id]
        if not ids:
            return
        try:
            report.cancelled = dict(self._exchange.cancel_orders(ids))
        except Exception as exc:
            report.errors.append(f"cancelling open orders failed: {exc}")

    def _close_positions(self, report: EmergencyReport) -> None:
        if self._trades is None:
            report.errors.append("no trade service configured: positions were not closed")
            return
        with self._sf() as s:
            targets = [
                (p.bot_id, p.base_size)
                for p in position_repo.positions_for_mode(s, self._mode)
                if p.base_size > 0
            ]
        for bot_id, size in targets:
            try:
                result = self._trades.execute(
                    bot_id, Side.SELL, base_size=size, intent=TradeIntent.EMERGENCY_CLOSE
                )
                report.closing.append(
                    {
                        "bot_id": bot_id,
                        "base_size": size,
                        "allowed": result.allowed,
                        "trade_id": result.trade.id if result.trade else None,
                        "reasons": result.decision.get("reasons"),
                    }
                )
            except (InvalidTradeRequest, Exception) as exc:
                report.errors.append(f"closing bot {bot_id}'s position failed: {exc}")

    # ---- reads -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        now = self._clock.now()
        with self._sf() as s:
            st = control_repo.read_state(s, now)
            return {
                "mode": self._mode.value,
                "trading_enabled": control_repo.trading_enabled_for(st, self._mode),
                "trading_switch_on": bool(st.trading_enabled),
                "enabled_mode": st.enabled_mode.value if st.enabled_mode else None,
                "emergency_stop": bool(st.emergency_stop),
                "emergency_reason": st.emergency_reason,
                "emergency_at": st.emergency_at.isoformat() if st.emergency_at else None,
                "updated_at": st.updated_at.isoformat() if st.updated_at else None,
            }

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._sf() as s:
            return [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "action": e.action,
                    "actor": e.actor,
                    "mode": e.mode.value,
                    "detail": e.detail,
                }
                for e in control_repo.recent_events(s, limit)
            ]

    def safety_status(self, limits: SafetyLimits) -> dict[str, Any]:
        """Limits, today's usage (global and per bot), cooldowns, emergency state, mode."""
        now = self._clock.now()
        today, week = day_start(now), week_start(now)
        with self._sf() as s:
            # The overview's loader: a fixed number of statements whatever the number of bots.
            facts = load_overview(s, self._mode, today, recent_limit=0)
            weekly = realized_per_bot_since(s, self._mode, week)
            open_bots = bots_with_open_trades(s, self._mode)
            exposure = position_repo.total_cost(s, self._mode)
            inflight = facts.inflight_buys
            realised_today = facts.realized_today_total
            per_bot = facts.trades_today
            bot_rows = []
            for b in facts.bots:
                pos = facts.positions.get(b.id)
                last = facts.last_fill.get(b.id)
                remaining = cooldown_remaining(now, last, limits, b.cooldown_minutes).total_seconds()
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
                        "consecutive_losses": loss_streak(facts.recent_exits.get(b.id, [])),
                        "weekly_realized_pnl": weekly.get(b.id, Decimal(0)),
                        "position_cost": pos.cost if pos else Decimal(0),
                        "position_base": pos.base_size if pos else Decimal(0),
                        "tranches": facts.open_tranches.get(pos.id, 0) if pos else 0,
                        "has_open_trade": b.id in open_bots,
                    }
                )
        status = {
            **self.state(),
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
        return dict(jsonable(status))
