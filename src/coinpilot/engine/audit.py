"""Audit entries the edges (API, CLI) write after a person's action: who placed a manual trade.

Bot changes are recorded by the edges in the same transaction as the change itself
(:func:`coinpilot.store.repos.audit_trail.record_change`); a manual trade is recorded after it
was placed, linking the trade and its safety decision (kept in the safety audit, not copied).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.types import TradingMode
from coinpilot.store.db import session_scope
from coinpilot.store.repos.audit_trail import record_change


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
