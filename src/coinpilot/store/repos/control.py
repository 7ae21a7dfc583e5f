"""The control row (trading switch, emergency stop) and its audit trail of events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.types import TradingMode
from coinpilot.store.models import ControlEvent, ControlState
from coinpilot.store.repos.jsonable import jsonable


def read_state(session: Session, now: datetime) -> ControlState:
    """The control row without locking (for reads and status pages)."""
    state = session.get(ControlState, 1, populate_existing=True)
    if state is None:
        state = ControlState(id=1, trading_enabled=False, emergency_stop=False, updated_at=now)
        session.add(state)
        session.flush()
    return state


def trading_enabled_for(state: ControlState, mode: TradingMode) -> bool:
    """Trading is on only when switched on *for this mode* and no emergency stop is engaged."""
    return bool(state.trading_enabled and state.enabled_mode == mode and not state.emergency_stop)


def record_event(
    session: Session,
    *,
    at: datetime,
    action: str,
    actor: str,
    mode: TradingMode,
    detail: dict[str, Any] | None = None,
) -> ControlEvent:
    event = ControlEvent(at=at, action=action, actor=actor[:64], mode=mode, detail=jsonable(detail or {}))
    session.add(event)
    return event


def engage_emergency(session: Session, state: ControlState, *, now: datetime, reason: str) -> bool:
    """Engage the emergency stop on ``state`` (already locked). Returns False if it was on."""
    was_on = state.emergency_stop
    state.emergency_stop = True
    state.trading_enabled = False
    if not was_on:
        state.emergency_reason = reason[:500]
        state.emergency_at = now
    state.updated_at = now
    return not was_on


def recent_events(session: Session, limit: int = 50) -> list[ControlEvent]:
    stmt = sa.select(ControlEvent).order_by(ControlEvent.id.desc()).limit(limit)
    return list(session.scalars(stmt))
