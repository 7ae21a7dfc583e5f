"""Safety audit rows: every decision, allowed or refused, with the request and inputs it saw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.types import Side, TradeIntent, TradingMode
from coinpilot.store.models import SafetyAudit
from coinpilot.store.repos.jsonable import jsonable

_INSERT = sa.insert(SafetyAudit).returning(SafetyAudit.id)  # built once: it runs under the lock


def write_audit(
    session: Session,
    *,
    now: datetime,
    mode: TradingMode,
    bot_id: int | None,
    side: Side | None,
    intent: TradeIntent | None,
    allowed: bool,
    reasons: list[Any],
    request: dict[str, Any],
    inputs: dict[str, Any],
) -> int:
    """Insert the audit row; returns its id."""
    row_id: int = (
        session.connection()
        .execute(
            _INSERT,
            {
                "created_at": now,
                "mode": mode,
                "bot_id": bot_id,
                "side": side,
                "intent": intent,
                "allowed": allowed,
                "reasons": jsonable(list(reasons)),
                "request": jsonable(request),
                "inputs": jsonable(inputs),
            },
        )
        .scalar_one()
    )
    return row_id


def recent_audits(
    session: Session, mode: TradingMode, limit: int = 50, bot_id: int | None = None
) -> list[SafetyAudit]:
    stmt = sa.select(SafetyAudit).where(SafetyAudit.mode == mode)
    if bot_id is not None:
        stmt = stmt.where(SafetyAudit.bot_id == bot_id)
    return list(session.scalars(stmt.order_by(SafetyAudit.id.desc()).limit(limit)))
