"""Audit entries written outside a change's own transaction: who placed a manual trade, and the
safety limits a process started with.

Bot changes are recorded by the edges in the same transaction as the change itself
(:func:`coinpilot.store.repos.audit_trail.record_change`); a manual trade is recorded after it
was placed, linking the trade and its safety decision (kept in the safety audit, not copied).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.types import TradingMode
from coinpilot.store.db import session_scope
from coinpilot.store.models import ControlEvent
from coinpilot.store.repos.audit_trail import changed_fields, record_change
from coinpilot.store.repos.jsonable import jsonable


def record_manual_trade(
    sessions: sessionmaker[Session], clock: Clock, mode: TradingMode, actor: str, bot_id: int, result: Any
) -> None:
    """Record who placed a manual trade (only trades that were placed: refusals are already in
    the safety audit, with every reason)."""
    if not result.allowed or result.trade is None:
        return
    trade = result.trade
    with session_scope(sessions) as s:
        record_change(
            s,
            at=clock.now(),
            actor=actor,
            mode=mode,
            action="manual_trade",
            bot_id=bot_id,
            after={
                "trade_id": trade.id,
                "side": trade.side,
                "quote_size": trade.requested_quote_size,
                "base_size": trade.requested_base_size,
                "status": trade.status,
            },
            safety_audit_id=result.audit_id,
        )


LIMITS_EVENT = "limits_changed"


def record_limits_if_changed(
    sessions: sessionmaker[Session], clock: Clock, mode: TradingMode, limits: SafetyLimits
) -> bool:
    """Limits come from configuration, so they change when a process starts with new ones: the
    engine calls this at start and the audit trail gets the before and after (the first start
    records them with no before). Returns True when an entry was written."""
    now_values = jsonable(limits)
    with session_scope(sessions) as s:
        last = s.scalars(
            sa.select(ControlEvent)
            .where(ControlEvent.action == LIMITS_EVENT, ControlEvent.mode == mode)
            .order_by(ControlEvent.id.desc())
            .limit(1)
        ).first()
        previous = (last.detail or {}).get("limits") if last is not None else None
        if previous == now_values:
            return False
        before, after = changed_fields(previous, now_values) if previous else (None, now_values)
        record_change(
            s,
            at=clock.now(),
            actor="configuration",
            mode=mode,
            action=LIMITS_EVENT,
            before=before,
            after=after,
            limits=now_values,  # the full set, for the next comparison
        )
    return True
