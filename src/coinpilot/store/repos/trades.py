"""Trade rows: the counters safety needs, status changes with history, fills, row locking.

Every query takes the trading mode: a production trade never counts in a mock figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from coinpilot.domain.trade_state import transition
from coinpilot.domain.types import FINAL_TRADE_STATUSES, Side, TradeStatus, TradingMode
from coinpilot.exchange.base import FillReport
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.models import Fill, SafetyAudit, Trade

ZERO = Decimal(0)
QUANTUM = Decimal("1e-18")  # the scale of Money columns on PostgreSQL
NON_FINAL = tuple(s for s in TradeStatus if s not in FINAL_TRADE_STATUSES)


def _counted() -> sa.ColumnElement[bool]:
    """Trades that count against daily limits: all but those refused before acknowledgement."""
    return sa.not_(sa.and_(Trade.status == TradeStatus.FAILED, Trade.order_id.is_(None)))


def count_trades_since(
    session: Session, mode: TradingMode, since: datetime, bot_id: int | None = None
) -> int:
    stmt = (
        sa.select(sa.func.count(Trade.id))
        .where(Trade.mode == mode, Trade.created_at >= since)
        .where(_counted())
    )
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return int(session.scalar(stmt) or 0)


def count_trades_since_total_and_bot(
    session: Session, mode: TradingMode, since: datetime, bot_id: int
) -> tuple[int, int]:
    """(all trades, this bot's trades) since ``since``, as :func:`count_trades_since`, in one query."""
    stmt = (
        sa.select(sa.func.count(Trade.id), sa.func.count(Trade.id).filter(Trade.bot_id == bot_id))
        .where(Trade.mode == mode, Trade.created_at >= since)
        .where(_counted())
    )
    total, bot = session.execute(stmt).one()
    return int(total or 0), int(bot or 0)


def count_trades_per_bot_since(session: Session, mode: TradingMode, since: datetime) -> dict[int, int]:
    stmt = (
        sa.select(Trade.bot_id, sa.func.count(Trade.id))
        .where(Trade.mode == mode, Trade.created_at >= since)
        .where(_counted())
        .group_by(Trade.bot_id)
    )
    return {int(b): int(n) for b, n in session.execute(stmt)}


def last_fill_at(session: Session, mode: TradingMode, bot_id: int) -> datetime | None:
    return session.scalar(
        sa.select(Fill.time)
        .join(Trade, Fill.trade_id == Trade.id)
        .where(Trade.mode == mode, Trade.bot_id == bot_id)
        .order_by(Fill.time.desc())
        .limit(1)
    )


def last_fill_per_bot(session: Session, mode: TradingMode) -> dict[int, datetime]:
    rows = session.execute(
        sa.select(Trade.bot_id, Fill.time).join(Trade, Fill.trade_id == Trade.id).where(Trade.mode == mode)
    )
    out: dict[int, datetime] = {}
    for bot_id, at in rows:
        if bot_id not in out or at > out[bot_id]:
            out[bot_id] = at
    return out


def open_trades(session: Session, mode: TradingMode, bot_id: int | None = None) -> list[Trade]:
    stmt = sa.select(Trade).where(Trade.mode == mode, Trade.status.in_(NON_FINAL))
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return list(session.scalars(stmt.order_by(Trade.id)))


def realized_since(
    session: Session, mode: TradingMode, since: datetime, bot_id: int | None = None
) -> Decimal:
    """Sum of realised P&L of exits settled (or closed with partial fills) at/after ``since``."""
    stmt = sa.select(Trade.realized_pnl).where(
        Trade.mode == mode,
        Trade.realized_pnl.is_not(None),
        sa.or_(Trade.settled_at >= since, Trade.closed_at >= since),
    )
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return sum((v for v in session.scalars(stmt) if v is not None), ZERO)


def realized_today_and_week(
    session: Session, mode: TradingMode, today: datetime, week: datetime, bot_id: int
) -> tuple[Decimal, Decimal, Decimal]:
    """(all bots' realised P&L since ``today``, this bot's since ``today``, this bot's since
    ``week``): three :func:`realized_since` sums from one query."""

    def after(t_settled: datetime | None, t_closed: datetime | None, since: datetime) -> bool:
        return (t_settled is not None and t_settled >= since) or (t_closed is not None and t_closed >= since)

    earliest = min(today, week)
    stmt = sa.select(Trade.bot_id, Trade.realized_pnl, Trade.settled_at, Trade.closed_at).where(
        Trade.mode == mode,
        Trade.realized_pnl.is_not(None),
        sa.or_(Trade.settled_at >= earliest, Trade.closed_at >= earliest),
        sa.or_(Trade.bot_id == bot_id, Trade.settled_at >= today, Trade.closed_at >= today),
    )
    today_all = today_bot = week_bot = ZERO
    for row_bot, pnl, settled, closed in session.execute(stmt):
        if pnl is None:
            continue
        if after(settled, closed, today):
            today_all += pnl
            if row_bot == bot_id:
                today_bot += pnl
        if row_bot == bot_id and after(settled, closed, week):
            week_bot += pnl
    return today_all, today_bot, week_bot


def consecutive_losses(session: Session, mode: TradingMode, bot_id: int) -> int:
    """Losing exits in a row, newest first, until the first non-losing exit."""
    stmt = (
        sa.select(Trade.realized_pnl)
        .where(Trade.mode == mode, Trade.bot_id == bot_id, Trade.realized_pnl.is_not(None))
        .order_by(sa.func.coalesce(Trade.settled_at, Trade.closed_at).desc(), Trade.id.desc())
        .limit(200)
    )
    n = 0
    for pnl in session.scalars(stmt):
        if pnl is not None and pnl < 0:
            n += 1
        else:
            break
    return n


def inflight_buy_quote(session: Session, mode: TradingMode, bot_id: int | None = None) -> Decimal:
    """Quote committed by buys not yet applied to a position (counted as exposure: fail-safe)."""
    stmt = sa.select(Trade).where(
        Trade.mode == mode,
        Trade.side == Side.BUY,
        Trade.status.in_(NON_FINAL),
        Trade.position_applied.is_(False),
    )
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return sum((_inflight_quote(session, t) for t in session.scalars(stmt)), ZERO)


@dataclass(frozen=True)
class InFlight:
    """What the safety check needs from the non-final trades of one mode."""

    buy_quote_bot: Decimal  # inflight_buy_quote(session, mode, bot_id)
    buy_quote_all: Decimal  # inflight_buy_quote(session, mode)
    bot_has_open_trade: bool  # bool(open_trades(session, mode, bot_id))


def in_flight(session: Session, mode: TradingMode, bot_id: int) -> InFlight:
    """One read of the mode's non-final trades instead of three queries (same rules)."""
    bot_quote = all_quote = ZERO
    bot_open = False
    for t in session.scalars(sa.select(Trade).where(Trade.mode == mode, Trade.status.in_(NON_FINAL))):
        bot_open = bot_open or t.bot_id == bot_id
        if t.side == Side.BUY and not t.position_applied:
            quote = _inflight_quote(session, t)
            all_quote += quote
            if t.bot_id == bot_id:
                bot_quote += quote
    return InFlight(bot_quote, all_quote, bot_open)


def _inflight_quote(session: Session, t: Trade) -> Decimal:
    if t.requested_quote_size is not None:
        return t.requested_quote_size
    if t.requested_base_size is not None:
        # Before any fill (e.g. outcome unknown) the price safety approved it at stands in.
        price = t.average_fill_price or _approved_price(session, t)
        if price is not None:
            return t.requested_base_size * price
    return ZERO


def _approved_price(session: Session, trade: Trade) -> Decimal | None:
    """The price in the safety request that let ``trade`` through (its audit row)."""
    audit = session.get(SafetyAudit, trade.safety_audit_id) if trade.safety_audit_id else None
    raw = (audit.request or {}).get("price") if audit is not None else None
    try:
        return Decimal(str(raw)) if raw is not None else None
    except InvalidOperation:
        return None


def due_for_sync(session: Session, mode: TradingMode, now: datetime, limit: int = 200) -> list[int]:
    stmt = (
        sa.select(Trade.id)
        .where(Trade.mode == mode, Trade.status.in_(NON_FINAL))
        .where(sa.or_(Trade.next_sync_at.is_(None), Trade.next_sync_at <= now))
        .order_by(Trade.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def non_final_ids(session: Session, mode: TradingMode) -> list[int]:
    stmt = sa.select(Trade.id).where(Trade.mode == mode, Trade.status.in_(NON_FINAL))
    return list(session.scalars(stmt.order_by(Trade.id)))


def get_trade(session: Session, trade_id: int) -> Trade | None:
    return session.scalars(
        sa.select(Trade).where(Trade.id == trade_id).options(selectinload(Trade.fills))
    ).first()


def get_trade_with_audit(session: Session, trade_id: int) -> tuple[Trade, SafetyAudit | None] | None:
    """A trade with its fills and its safety audit row, in one query."""
    row = (
        session.execute(
            sa.select(Trade, SafetyAudit)
            .outerjoin(SafetyAudit, SafetyAudit.id == Trade.safety_audit_id)
            .where(Trade.id == trade_id)
            .options(joinedload(Trade.fills))
        )
        .unique()
        .first()
    )
    return None if row is None else (row[0], row[1])


def lock_trade(session: Session, trade_id: int, now: datetime) -> Trade | None:
    """Load a trade for update; call first in a fresh transaction.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the row. SQLite has no row locks: take the trading lock
    (the database write lock), which serialises every writer.
    """
    if session.get_bind().dialect.name == "sqlite":
        acquire_trading_lock(session, now)
    return session.scalars(
        sa.select(Trade)
        .where(Trade.id == trade_id)
        .with_for_update()
        .options(selectinload(Trade.fills))
        .execution_options(populate_existing=True)
    ).first()


_TIMESTAMP_FIELD = {
    TradeStatus.OPEN: "opened_at",
    TradeStatus.FILLED: "filled_at",
    TradeStatus.SETTLED: "settled_at",
    TradeStatus.FAILED: "closed_at",
    TradeStatus.CANCELLED: "closed_at",
    TradeStatus.EXPIRED: "closed_at",
}


def set_status(trade: Trade, new: TradeStatus, at: datetime, note: str = "") -> bool:
    """Move the trade to ``new`` (legal transitions only) and append to its history.

    Returns False (and changes nothing) for a same-state no-op."""
    current = TradeStatus(trade.status)
    transition(current, new)
    trade.updated_at = at
    if current == new:
        return False
    trade.status = new
    field = _TIMESTAMP_FIELD.get(new)
    if field and getattr(trade, field) is None:
        setattr(trade, field, at)
    trade.status_history = [*(trade.status_history or []), _history_entry(new, at, note)]
    return True


def _history_entry(status: TradeStatus, at: datetime, note: str) -> dict[str, str]:
    return {"status": status.value, "at": at.isoformat(), "note": note[:300]}


def mark_acknowledged(
    session: Session, trade_id: int, order_id: str, now: datetime, next_sync_at: datetime
) -> bool:
    """PENDING without an order id -> OPEN with ``order_id``: the usual ack, in two statements.

    The conditional UPDATE locks the row (PostgreSQL: row lock; SQLite: the database write lock)
    and matches only a trade still waiting for its ack; RETURNING gives what the second UPDATE
    extends under that lock. Returns False, changing nothing, for any other trade (the caller
    then takes the general path through :func:`lock_trade` and :func:`set_status`).
    """
    transition(TradeStatus.PENDING, TradeStatus.OPEN)
    claimed = session.execute(
        sa.update(Trade)
        .where(Trade.id == trade_id, Trade.status == TradeStatus.PENDING, Trade.order_id.is_(None))
        .values(order_id=order_id, status=TradeStatus.OPEN)
        .returning(Trade.status_history, Trade.submitted_at, Trade.opened_at),
        execution_options={"synchronize_session": False},
    ).first()
    if claimed is None:
        return False
    history, submitted_at, opened_at = claimed
    session.execute(
        sa.update(Trade)
        .where(Trade.id == trade_id)
        .values(
            status_history=[
                *(history or []),
                _history_entry(TradeStatus.OPEN, now, f"acknowledged: {order_id}"),
            ],
            submitted_at=submitted_at or now,
            opened_at=opened_at or now,
            last_error=None,
            sync_attempts=0,
            next_sync_at=next_sync_at,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    return True


def record_fills(trade: Trade, reports: Iterable[FillReport]) -> int:
    """Add fills not yet recorded (unique per trade + fill_id). Returns how many were new."""
    known = {f.fill_id for f in trade.fills}
    added = 0
    for r in reports:
        if r.fill_id in known:
            continue
        trade.fills.append(
            Fill(
                fill_id=r.fill_id,
                price=r.price,
                base_size=r.base_size,
                fee=r.fee,
                liquidity=r.liquidity or "UNKNOWN",
                time=r.time,
            )
        )
        known.add(r.fill_id)
        added += 1
    return added


def aggregate_from_fills(trade: Trade, fills: Sequence[Fill] | None = None) -> None:
    """Filled size, value, fees and average price: always from the recorded fills."""
    rows = list(trade.fills if fills is None else fills)
    base = sum((f.base_size for f in rows), ZERO)
    value = sum((f.base_size * f.price for f in rows), ZERO)
    fees = sum((f.fee for f in rows), ZERO)
    trade.filled_base_size = base
    trade.filled_value = value
    trade.fees = fees
    trade.average_fill_price = (value / base).quantize(QUANTUM) if base > 0 else None
