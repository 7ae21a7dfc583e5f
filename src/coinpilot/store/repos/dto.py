"""Plain data the API serialises: trades (with fills and their safety decision) and positions.

``to_dict()`` gives JSON-safe values: money as exact decimal strings, times as ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.types import PositionStatus, TradeStatus
from coinpilot.store.models import Fill, Position, SafetyAudit, Trade
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.positions import to_state


@dataclass(frozen=True)
class FillDTO:
    fill_id: str
    price: Decimal
    base_size: Decimal
    fee: Decimal
    liquidity: str
    time: datetime


@dataclass(frozen=True)
class TradeDTO:
    id: int
    bot_id: int
    mode: str
    side: str
    intent: str
    pair: str
    status: str
    client_order_id: str
    order_id: str | None
    requested_quote_size: Decimal | None
    requested_base_size: Decimal | None
    filled_base_size: Decimal
    average_fill_price: Decimal | None
    filled_value: Decimal
    fees: Decimal
    realized_pnl: Decimal | None
    failure_code: str | None
    failure_reason: str | None
    last_error: str | None
    position_applied: bool
    signal_snapshot: dict[str, Any] | None
    confirmation_snapshot: dict[str, Any] | None
    temperature: str | None
    safety_audit_id: int | None
    safety_decision: dict[str, Any] | None
    status_history: list[dict[str, Any]]
    fills: tuple[FillDTO, ...]
    created_at: datetime
    submitted_at: datetime | None
    opened_at: datetime | None
    filled_at: datetime | None
    settled_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    # Set when the order sync could not finish the trade within its bounds (a person looks).
    attention_reason: str | None = None
    attention_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self))


def audit_summary(audit: SafetyAudit | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    return {
        "audit_id": audit.id,
        "allowed": audit.allowed,
        "reasons": audit.reasons,
        "decision": (audit.inputs or {}).get("decision"),
        "at": audit.created_at.isoformat(),
    }


def trade_dto(trade: Trade, audit: SafetyAudit | None = None) -> TradeDTO:
    return _trade_dto(trade, audit_summary(audit), trade.fills)


def _trade_dto(trade: Any, decision: dict[str, Any] | None, fills: Iterable[Any]) -> TradeDTO:
    """``trade`` and ``fills`` are ORM objects or Core rows (the same attribute names)."""
    return TradeDTO(
        id=trade.id,
        bot_id=trade.bot_id,
        mode=str(trade.mode),
        side=str(trade.side),
        intent=str(trade.intent),
        pair=trade.pair,
        status=str(trade.status),
        client_order_id=trade.client_order_id,
        order_id=trade.order_id,
        requested_quote_size=trade.requested_quote_size,
        requested_base_size=trade.requested_base_size,
        filled_base_size=trade.filled_base_size,
        average_fill_price=trade.average_fill_price,
        filled_value=trade.filled_value,
        fees=trade.fees,
        realized_pnl=trade.realized_pnl,
        failure_code=trade.failure_code,
        failure_reason=trade.failure_reason,
        last_error=trade.last_error,
        position_applied=trade.position_applied,
        signal_snapshot=trade.signal_snapshot,
        confirmation_snapshot=trade.confirmation_snapshot,
        temperature=str(trade.temperature) if trade.temperature else None,
        safety_audit_id=trade.safety_audit_id,
        safety_decision=decision,
        status_history=list(trade.status_history or []),
        fills=tuple(
            FillDTO(f.fill_id, f.price, f.base_size, f.fee, f.liquidity, f.time)
            for f in sorted(fills, key=lambda f: (f.time, f.fill_id))
        ),
        created_at=trade.created_at,
        submitted_at=trade.submitted_at,
        opened_at=trade.opened_at,
        filled_at=trade.filled_at,
        settled_at=trade.settled_at,
        closed_at=trade.closed_at,
        updated_at=trade.updated_at,
        attention_reason=trade.attention_reason,
        attention_at=trade.attention_at,
    )


_TRADE_ROW = (
    sa.select(
        Trade.__table__,
        SafetyAudit.allowed.label("audit_allowed"),
        SafetyAudit.reasons.label("audit_reasons"),
        SafetyAudit.inputs.label("audit_inputs"),
        SafetyAudit.created_at.label("audit_created_at"),
    )
    .outerjoin(SafetyAudit, SafetyAudit.id == Trade.safety_audit_id)
    .where(Trade.id == sa.bindparam("trade_id"))
)
_FILL_ROWS = sa.select(Fill.__table__).where(Fill.trade_id == sa.bindparam("trade_id"))


def read_trade_dto(session: Session, trade_id: int) -> TradeDTO | None:
    """:func:`trade_dto` of a trade with its fills and safety decision, from two prebuilt Core
    queries (no ORM objects: this is the answer to every execute, on the order path)."""
    conn = session.connection()
    row = conn.execute(_TRADE_ROW, {"trade_id": trade_id}).first()
    if row is None:
        return None
    decision = None
    if row.safety_audit_id is not None and row.audit_allowed is not None:
        decision = {
            "audit_id": row.safety_audit_id,
            "allowed": row.audit_allowed,
            "reasons": row.audit_reasons,
            "decision": (row.audit_inputs or {}).get("decision"),
            "at": row.audit_created_at.isoformat(),
        }
    # Fills are recorded only when an order finishes: a PENDING or OPEN trade has none.
    unfinished = row.status in (TradeStatus.PENDING, TradeStatus.OPEN)
    fills = [] if unfinished else conn.execute(_FILL_ROWS, {"trade_id": trade_id}).all()
    return _trade_dto(row, decision, fills)


@dataclass(frozen=True)
class TrancheDTO:
    trade_id: int
    entry_price: Decimal
    base_size: Decimal
    cost: Decimal
    fee: Decimal
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class PositionDTO:
    bot_id: int
    mode: str
    pair: str
    status: str
    base_size: Decimal
    cost: Decimal
    avg_entry_price: Decimal | None
    realized_pnl: Decimal
    total_fees: Decimal
    mark: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    opened_at: datetime | None
    updated_at: datetime
    tranches: tuple[TrancheDTO, ...]  # open tranches of the current cycle
    # Remainders too small to sell, set aside when cycles closed (the account still holds them).
    dust_base_size: Decimal = Decimal(0)
    dust_value: Decimal = Decimal(0)  # at the exit prices that left them

    def to_dict(self) -> dict[str, Any]:
        return dict(jsonable(self))


def position_dto(pos: Position, mark: Decimal | None = None) -> PositionDTO:
    """``mark`` is the best bid (what a sale would get); without it unrealised is None."""
    state = to_state(pos)
    return PositionDTO(
        bot_id=pos.bot_id,
        mode=str(pos.mode),
        pair=pos.pair,
        status=str(PositionStatus(pos.status)),
        base_size=state.base_size,
        cost=state.cost,
        avg_entry_price=state.avg_entry_price,
        realized_pnl=state.realized_pnl,
        total_fees=state.total_fees,
        mark=mark,
        market_value=state.market_value(mark) if mark is not None else None,
        unrealized_pnl=state.unrealized_pnl(mark) if mark is not None else None,
        opened_at=pos.opened_at,
        updated_at=pos.updated_at,
        tranches=tuple(
            TrancheDTO(t.trade_id, t.entry_price, t.base_size, t.cost, t.fee, t.opened_at, t.closed_at)
            for t in sorted(pos.tranches, key=lambda t: (t.opened_at, t.id or 0))
            if t.closed_at is None
        ),
        dust_base_size=state.dust_base_size,
        dust_value=state.dust_value,
    )
