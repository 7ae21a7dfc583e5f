"""The control row (the trading state with its reason, who and when) and its audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.trading_state import NOT_ENABLED_REASON, TradingState, TradingStatus
from coinpilot.domain.types import TradeStatus, TradingMode
from coinpilot.store.models import ControlEvent, ControlState, Trade
from coinpilot.store.repos.jsonable import jsonable


def new_state_row(now: datetime) -> ControlState:
    """The row of a fresh install: HALTED, "not enabled yet"."""
    return ControlState(
        id=1,
        trading_state=TradingState.HALTED,
        state_reason=NOT_ENABLED_REASON,
        state_by="install",
        state_since=None,
        updated_at=now,
    )


def read_state(session: Session, now: datetime) -> ControlState:
    """The control row without locking (for reads and status pages)."""
    state = session.get(ControlState, 1, populate_existing=True)
    if state is None:
        state = new_state_row(now)
        session.add(state)
        session.flush()
    return state


def status_of(state: ControlState) -> TradingStatus:
    return TradingStatus(
        state=TradingState(state.trading_state),
        reason=state.state_reason or "",
        by=state.state_by or "",
        since=state.state_since,
        mode=TradingMode(state.enabled_mode) if state.enabled_mode else None,
    )


def effective_state(state: ControlState, mode: TradingMode) -> TradingState:
    """The state as a process running in ``mode`` sees it (HALTED for a mode never activated)."""
    return status_of(state).effective(mode)


def set_state(
    session: Session,
    state: ControlState,
    new: TradingState,
    *,
    now: datetime,
    actor: str,
    reason: str,
    mode: TradingMode,
) -> None:
    """Write the new state on the (locked) row, for ``mode``."""
    state.trading_state = new
    state.state_reason = reason[:500]
    state.state_by = actor[:64]
    state.state_since = now
    state.enabled_mode = mode  # the state is set for this mode; any other mode sees HALTED
    state.updated_at = now


def change_state(
    session: Session,
    state: ControlState,
    target: TradingState,
    *,
    now: datetime,
    actor: str,
    reason: str,
    mode: TradingMode,
    command: str = "",
    extra: dict[str, Any] | None = None,
) -> int:
    """Change the (locked) row and audit it as a ControlEvent. HALTED also marks every unsent
    PENDING trade "do not send" in this same transaction. Returns how many were marked."""
    before = status_of(state).effective(mode)
    marked = mark_unsent_do_not_send(session, mode, now) if target is TradingState.HALTED else 0
    set_state(session, state, target, now=now, actor=actor, reason=reason, mode=mode)
    record_event(
        session,
        at=now,
        action=f"state_{target.value.lower()}",
        actor=actor,
        mode=mode,
        detail={
            "from": before.value,
            "to": target.value,
            "reason": reason,
            "command": command,
            "unsent_marked_do_not_send": marked,
            **(extra or {}),
        },
    )
    return marked


def mark_unsent_do_not_send(session: Session, mode: TradingMode, now: datetime) -> int:
    """Every PENDING trade of ``mode`` without an exchange id: never send it (it is looked up
    and adopted if it reached the exchange). Returns how many were marked."""
    result = session.execute(
        sa.update(Trade)
        .where(
            Trade.mode == mode,
            Trade.status == TradeStatus.PENDING,
            Trade.order_id.is_(None),
            Trade.do_not_send.is_(False),
        )
        .values(do_not_send=True, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


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


def recent_events(session: Session, limit: int = 50) -> list[ControlEvent]:
    stmt = sa.select(ControlEvent).order_by(ControlEvent.id.desc()).limit(limit)
    return list(session.scalars(stmt))
