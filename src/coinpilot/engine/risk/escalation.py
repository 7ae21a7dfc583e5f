"""Gradual risk escalation, applied: the step production trades at, its record, approvals, drops.

The rules are in :mod:`coinpilot.domain.escalation`; this module reads the step and the record
from the database and writes the outcome. The record of a step is counted from ``step_since``:
trades settled and orders failed since then, and the control events of a circuit breaker or a
position drift since then. An incident drops the step by one and starts a new record, so a
drift that persists keeps dropping it until the canary step.

Every change is written to the audit trail (``control_events``) with who made it. Mock mode is
not escalated: :meth:`EscalationService.limits_for` returns the configured limits unchanged.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain import escalation as esc
from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.trading_state import BREAKER_ACTORS as STATE_BREAKERS
from coinpilot.domain.types import TradeStatus, TradingMode
from coinpilot.store.db import read_session, session_scope
from coinpilot.store.models import ControlEvent, EscalationState, Trade
from coinpilot.store.repos import control as control_repo

log = logging.getLogger("coinpilot.engine")

DRIFT_EVENT = "position_drift"
# Who trips a breaker: the automatic breakers of the trading state, and the older name.
BREAKER_ACTORS = ("circuit_breaker", *sorted(STATE_BREAKERS))


def is_escalated(mode: TradingMode) -> bool:
    """Only production earns its limits step by step; paper money is not escalated."""
    return TradingMode(mode) is TradingMode.PRODUCTION


def current_step(session: Session, mode: TradingMode) -> int:
    """The stored step (1, the canary, when none is stored yet). One primary-key read: cheap
    enough for the order path's locked transaction."""
    step = session.execute(
        sa.select(EscalationState.step).where(EscalationState.mode == TradingMode(mode))
    ).scalar()
    return int(step) if step is not None else 1


def limits_for(session: Session, mode: TradingMode, configured: SafetyLimits) -> SafetyLimits:
    """The limits in force now: the configured ones, capped by the step in production."""
    if not is_escalated(mode):
        return configured
    return esc.effective_limits(configured, esc.step_of(current_step(session, mode)))


def step_record(session: Session, mode: TradingMode, since: datetime) -> esc.StepRecord:
    """What happened since ``since``: settled trades, failed orders, drift, breaker trips."""
    settled = session.scalar(
        sa.select(sa.func.count(Trade.id)).where(
            Trade.mode == mode, Trade.status == TradeStatus.SETTLED, Trade.settled_at > since
        )
    )
    failed = session.scalar(
        sa.select(sa.func.count(Trade.id)).where(
            Trade.mode == mode,
            Trade.status == TradeStatus.FAILED,
            sa.func.coalesce(Trade.closed_at, Trade.updated_at) > since,
        )
    )
    events = sa.and_(ControlEvent.mode == mode, ControlEvent.at > since)
    drift = session.scalar(
        sa.select(sa.func.count(ControlEvent.id)).where(events, ControlEvent.action == DRIFT_EVENT)
    )
    breaker = session.scalar(
        sa.select(sa.func.count(ControlEvent.id)).where(
            events, ControlEvent.actor.in_(BREAKER_ACTORS), ControlEvent.action != "state_active"
        )
    )
    return esc.StepRecord(
        settled_trades=int(settled or 0),
        failed_orders=int(failed or 0),
        drift_incidents=int(drift or 0),
        breaker_trips=int(breaker or 0),
    )


class EscalationService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, mode: TradingMode) -> None:
        self._sf = sessions
        self._clock = clock
        self._mode = TradingMode(mode)

    @property
    def escalated(self) -> bool:
        return is_escalated(self._mode)

    def status(self) -> dict[str, object]:
        """The step, its record and what the next step requires. Read-only (GET endpoints never
        change state): an incident not yet applied is shown as ``incident_pending``; the engine
        applies the drop within ``ESCALATION_INTERVAL_SECONDS`` and every approval applies it first."""
        if not self.escalated:
            return {
                "mode": self._mode.value,
                "escalated": False,
                "note": "mock mode is not escalated: the configured limits apply",
            }
        with read_session(self._sf) as s:
            row = s.scalars(sa.select(EscalationState).where(EscalationState.mode == self._mode)).first()
            step, since = (row.step, row.step_since) if row is not None else (1, None)
            record = step_record(s, self._mode, since) if since is not None else esc.StepRecord()
            reason = row.reason if row is not None else "production starts at the canary step"
        result = esc.status(step, record)
        return {
            "mode": self._mode.value,
            "escalated": True,
            "step_since": since.isoformat() if since is not None else None,
            "reason": reason,
            "incident_pending": record.incidents > 0,
            "ladder": [s.to_dict() for s in esc.LADDER],
            **result.to_dict(),
        }

    def check_incidents(self) -> int | None:
        """Drop one step if anything went wrong at the current one; returns the new step when
        it dropped, else None. Run periodically by the engine and before every status read."""
        if not self.escalated:
            return None
        now = self._clock.now()
        with session_scope(self._sf) as s:
            row = self._row(s, lock=True)
            record = step_record(s, self._mode, row.step_since)
            new = esc.after_incident(row.step, record)
            if record.incidents == 0:
                return None
            old = row.step
            reason = f"incident at step {old}: {record.to_dict()}"
            row.step, row.step_since, row.reason, row.updated_at = new, now, reason[:500], now
            control_repo.record_event(
                s,
                at=now,
                action="escalation_dropped",
                actor="system",
                mode=self._mode,
                detail={"before": {"step": old}, "after": {"step": new}, "record": record.to_dict()},
            )
        log.warning("risk escalation dropped from step %s to %s (%s)", old, new, reason)
        return new

    def approve(self, actor: str) -> dict[str, object]:
        """A person moves production up one step; refused (``EscalationRefused``) unless the
        record at the current step is clean and long enough. Mock mode has nothing to approve."""
        if not self.escalated:
            raise esc.EscalationRefused(("mock mode is not escalated: the configured limits apply",))
        self.check_incidents()
        now = self._clock.now()
        with session_scope(self._sf) as s:
            row = self._row(s, lock=True)
            record = step_record(s, self._mode, row.step_since)
            new = esc.approve(row.step, record)
            old = row.step
            row.step, row.step_since, row.reason, row.updated_at = new, now, f"approved by {actor}", now
            control_repo.record_event(
                s,
                at=now,
                action="escalation_approved",
                actor=actor,
                mode=self._mode,
                detail={"before": {"step": old}, "after": {"step": new}, "record": record.to_dict()},
            )
        log.info("risk escalation approved by %s: step %s -> %s", actor, old, new)
        return self.status()

    def _row(self, s: Session, *, lock: bool = False) -> EscalationState:
        stmt = sa.select(EscalationState).where(EscalationState.mode == self._mode)
        if lock:
            stmt = stmt.with_for_update()
        row = s.scalars(stmt).first()
        if row is None:
            now = self._clock.now()
            row = EscalationState(
                mode=self._mode,
                step=1,
                step_since=now,
                reason="production starts at the canary step",
                updated_at=now,
            )
            s.add(row)
            s.flush()
        return row
