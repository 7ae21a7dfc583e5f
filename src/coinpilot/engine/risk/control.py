"""Control: the trading state (ACTIVE / REDUCING / HALTED) and the safety status for the API.

A fresh install is HALTED ("not enabled yet"). Every change is made under the trading lock,
persisted with its reason, who and when (it survives a restart) and audited as a ControlEvent;
the safety check reads it under the same lock, so a change applies to the very next order.
People set any state; the automatic breakers only move ACTIVE -> REDUCING
(:meth:`ControlService.breaker_trip`), and only the exchange breaker may move its own REDUCING
back to ACTIVE (:meth:`ControlService.breaker_recover`). The rules live in
:mod:`coinpilot.domain.trading_state`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.trading_state import TradingState, breaker_target, may_recover
from coinpilot.domain.types import Side, TradeIntent, TradingMode
from coinpilot.engine.orders.execution import InvalidTradeRequest, TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.jsonable import jsonable

log = logging.getLogger(__name__)


_DEFAULT_REASON = {
    TradingState.ACTIVE: "activated",
    TradingState.REDUCING: "exits only",
    TradingState.HALTED: "halted",
}
ALLOWS = {
    TradingState.ACTIVE: "everything within the limits",
    TradingState.REDUCING: "only sells that reduce risk (stops, take-profit, exits, manual sells); no buys",
    TradingState.HALTED: "nothing but a person's emergency close; open orders can be cancelled",
}


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

    @property
    def session_factory(self) -> sessionmaker[Session]:
        """Where the read models (:mod:`coinpilot.views`) read this mode's state from."""
        return self._sf

    @property
    def clock(self) -> Clock:
        return self._clock

    # ---- the trading state -------------------------------------------------------------
    def set_state(
        self,
        new: TradingState | str,
        actor: str,
        reason: str = "",
        *,
        production_ready: bool = False,
        command: str = "",
    ) -> dict[str, Any]:
        """A person sets the trading state (persisted with reason, who and when; audited).

        ACTIVE in production needs ``production_ready`` (the process runs in production mode
        with exchange keys). HALTED also marks every unsent PENDING trade "do not send", in the
        same transaction."""
        try:
            target = TradingState(str(new).upper())
        except ValueError:
            raise ControlError(f"unknown trading state {new!r}: use ACTIVE, REDUCING or HALTED") from None
        if target is TradingState.ACTIVE and self._mode == TradingMode.PRODUCTION and not production_ready:
            raise ControlError(
                "production trading cannot be enabled: configure Coinbase API keys and start "
                "Coinpilot in production mode (COINPILOT_TRADING_MODE=production) first"
            )
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            self._write_state(s, state, target, now, actor, reason or _DEFAULT_REASON[target], command)
        return self.state()

    def _write_state(
        self,
        s: Session,
        state: Any,
        target: TradingState,
        now: datetime,
        actor: str,
        reason: str,
        command: str,
        extra: dict[str, Any] | None = None,
    ) -> int:
        return control_repo.change_state(
            s,
            state,
            target,
            now=now,
            actor=actor,
            reason=reason,
            mode=self._mode,
            command=command,
            extra=extra,
        )

    def activate(self, actor: str, reason: str = "", *, production_ready: bool = False) -> dict[str, Any]:
        return self.set_state(TradingState.ACTIVE, actor, reason, production_ready=production_ready)

    def reduce(self, actor: str, reason: str = "") -> dict[str, Any]:
        return self.set_state(TradingState.REDUCING, actor, reason)

    def halt(self, actor: str, reason: str = "") -> dict[str, Any]:
        return self.set_state(TradingState.HALTED, actor, reason)

    def enable_trading(self, actor: str, *, production_ready: bool = False) -> dict[str, Any]:
        """``coinpilot trading enable``: ACTIVE in this process's mode."""
        return self.set_state(
            TradingState.ACTIVE, actor, "trading enabled", production_ready=production_ready, command="enable"
        )

    def disable_trading(self, actor: str, reason: str = "") -> dict[str, Any]:
        """``coinpilot trading disable``: HALTED (nothing is sent; open orders still sync)."""
        return self.set_state(TradingState.HALTED, actor, reason or "trading disabled", command="disable")

    def breaker_trip(self, breaker: str, reason: str, detail: dict[str, Any] | None = None) -> bool:
        """An automatic breaker: ACTIVE -> REDUCING (never HALTED). True when it changed."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            current = control_repo.effective_state(state, self._mode)
            target = breaker_target(current)
            if target is None:
                return False
            self._write_state(s, state, target, now, breaker, reason, "breaker", detail)
        log.error("%s: trading is REDUCING (exits only) - %s", breaker, reason)
        return True

    def breaker_recover(self, breaker: str, reason: str) -> bool:
        """The exchange breaker's own recovery: back to ACTIVE only from a REDUCING state it
        set itself. True when it changed."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            status = control_repo.status_of(state)
            if status.effective(self._mode) is not TradingState.REDUCING or not may_recover(status, breaker):
                return False
            self._write_state(s, state, TradingState.ACTIVE, now, breaker, reason, "recover")
        log.warning("%s: trading is ACTIVE again - %s", breaker, reason)
        return True

    def engage_emergency(
        self,
        actor: str,
        reason: str = "emergency stop",
        *,
        cancel_open_orders: bool = False,
        close_positions: bool = False,
    ) -> EmergencyReport:
        """``coinpilot kill``: HALTED now, and every unsent PENDING trade marked "do not send",
        committed in one transaction before anything else happens; then optionally cancel open
        orders and close positions with EMERGENCY_CLOSE sells through the normal path."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            engaged = control_repo.effective_state(state, self._mode) is not TradingState.HALTED
            self._write_state(
                s,
                state,
                TradingState.HALTED,
                now,
                actor,
                reason,
                "kill",
                {"cancel_open_orders": cancel_open_orders, "close_positions": close_positions},
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
        """``coinpilot release``: HALTED -> REDUCING. Protective exits run again; buys wait until
        a person sets ACTIVE."""
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            status = control_repo.status_of(state)
            if status.effective(self._mode) is not TradingState.HALTED:
                raise ControlError(f"trading is not HALTED (it is {status.effective(self._mode).value})")
            self._write_state(
                s,
                state,
                TradingState.REDUCING,
                now,
                actor,
                note or "released: exits only until activated",
                "release",
                {"released_reason": status.reason},
            )
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
        """The trading state as this process's mode sees it, with its reason, who and when."""
        now = self._clock.now()
        with self._sf() as s:
            st = control_repo.read_state(s, now)
            status = control_repo.status_of(st)
            effective = status.effective(self._mode)
            reason = status.reason
            if effective is not status.state:
                reason = f"not enabled for {self._mode.value} mode" + (
                    f" (it is {status.state.value} in {status.mode.value} mode)" if status.mode else ""
                )
            return {
                "mode": self._mode.value,
                "state": effective.value,
                "reason": reason,
                "by": status.by,
                "since": status.since.isoformat() if status.since else None,
                "allows": ALLOWS[effective],
                "active_mode": status.mode.value if status.mode else None,
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
