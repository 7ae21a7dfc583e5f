"""Position and tranche rows <-> the pure :class:`PositionState` of ``domain.position``.

One position row per bot and mode. Open tranches are those with ``closed_at`` NULL; when a
position closes fully its tranches get ``closed_at`` and stay as history. Positions are loaded
with their *open* tranches only (:data:`OPEN_TRANCHES`): every reader needs just those, and the
history would otherwise make each read grow with the bot's age.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from coinpilot.domain.position import PositionState, TrancheState
from coinpilot.domain.types import PositionStatus, TradingMode
from coinpilot.store.models import Position, Tranche

ZERO = Decimal(0)
# Loader criteria: a position's ``tranches`` collection holds the open ones only.
OPEN_TRANCHES = Position.tranches.and_(Tranche.closed_at.is_(None))


def get_position(
    session: Session, bot_id: int, mode: TradingMode, *, for_update: bool = False
) -> Position | None:
    stmt = sa.select(Position).where(Position.bot_id == bot_id, Position.mode == mode)
    if for_update:  # FOR UPDATE cannot lock through an outer join: tranches in a second query
        stmt = (
            stmt.options(selectinload(OPEN_TRANCHES))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:  # one query
        stmt = stmt.options(joinedload(OPEN_TRANCHES))
    return session.scalars(stmt).unique().first()


def ensure_position(session: Session, bot_id: int, pair: str, mode: TradingMode, now: datetime) -> Position:
    """Create the (flat) position row if missing. Call under the trading lock (no races)."""
    pos = get_position(session, bot_id, mode)
    if pos is None:
        pos = _new_position(session, bot_id, pair, mode, now)
    return pos


def create_position(session: Session, bot_id: int, pair: str, mode: TradingMode, now: datetime) -> None:
    """Insert the flat position row (call under the trading lock, knowing it is missing)."""
    _new_position(session, bot_id, pair, mode, now)


def _new_position(session: Session, bot_id: int, pair: str, mode: TradingMode, now: datetime) -> Position:
    pos = Position(
        bot_id=bot_id,
        mode=mode,
        pair=pair,
        status=PositionStatus.FLAT,
        base_size=ZERO,
        cost=ZERO,
        realized_pnl=ZERO,
        total_fees=ZERO,
        updated_at=now,
    )
    session.add(pos)
    session.flush()
    return pos


def to_state(pos: Position | None) -> PositionState:
    if pos is None:
        return PositionState()
    tranches = tuple(
        TrancheState(
            trade_id=t.trade_id,
            entry_price=t.entry_price,
            base_size=t.base_size,
            cost=t.cost,
            fee=t.fee,
            opened_at=t.opened_at,
        )
        for t in sorted(pos.tranches, key=lambda t: (t.opened_at, t.id or 0))
        if t.closed_at is None
    )
    return PositionState(
        base_size=pos.base_size,
        cost=pos.cost,
        realized_pnl=pos.realized_pnl,
        total_fees=pos.total_fees,
        tranches=tranches,
        reducing=pos.status == PositionStatus.REDUCING,
        dust_base_size=pos.dust_base_size or ZERO,
        dust_value=pos.dust_value or ZERO,
    )


def write_state(pos: Position, state: PositionState, *, now: datetime, max_tranches: int) -> None:
    """Store ``state`` on the row: new tranches are added, closed cycles' tranches closed."""
    live = {t.trade_id for t in state.tranches}
    for row in pos.tranches:
        if row.closed_at is None and row.trade_id not in live:
            row.closed_at = now
    existing = {t.trade_id for t in pos.tranches}
    for t in state.tranches:
        if t.trade_id not in existing:
            pos.tranches.append(
                Tranche(
                    trade_id=t.trade_id,
                    entry_price=t.entry_price,
                    base_size=t.base_size,
                    cost=t.cost,
                    fee=t.fee,
                    opened_at=t.opened_at,
                )
            )
    was_flat = pos.base_size == 0
    pos.base_size = state.base_size
    pos.cost = state.cost
    pos.realized_pnl = state.realized_pnl
    pos.total_fees = state.total_fees
    pos.dust_base_size = state.dust_base_size
    pos.dust_value = state.dust_value
    pos.status = state.status(max_tranches)
    if state.base_size == 0:
        pos.opened_at = None
    elif was_flat or pos.opened_at is None:
        pos.opened_at = state.opened_at or now
    pos.updated_at = now


def positions_for_mode(session: Session, mode: TradingMode) -> list[Position]:
    stmt = (
        sa.select(Position)
        .where(Position.mode == mode)
        .options(selectinload(OPEN_TRANCHES))
        .order_by(Position.bot_id)
    )
    return list(session.scalars(stmt))


_COSTS = sa.select(Position.cost).where(Position.mode == sa.bindparam("mode"))


def total_cost(session: Session, mode: TradingMode) -> Decimal:
    """Sum of position costs in this mode (money summed in Python: exact on SQLite too)."""
    return sum(session.connection().scalars(_COSTS, {"mode": mode}), ZERO)
