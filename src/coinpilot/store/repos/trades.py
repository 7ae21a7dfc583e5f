"""Trade rows: insert, look-ups, status changes with history, the ack, fills, row locking.

Every query takes the trading mode: a production trade never counts in a mock figure.

The counters safety reads under the trading lock live in :mod:`.trade_counters`; they are
re-exported here so ``trade_repo.<name>`` keeps working for every caller (and a test that
patches ``trade_repo.last_fill_at`` still reaches ``snapshot.gather_context``, which calls
through this module). Statements that run under the trading lock (the insert, the ack) are built
once: building one costs more than SQLite takes to run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, selectinload

from coinpilot.domain.exchange_values import FillReport
from coinpilot.domain.position import fill_value
from coinpilot.domain.trade_state import adopt, transition
from coinpilot.domain.types import Side, TemperatureLevel, TradeIntent, TradeStatus, TradingMode
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.models import Fill, Trade
from coinpilot.store.repos.trade_counters import (
    LOSS_STREAK_CAP,
    NON_FINAL,
    ZERO,
    InFlight,
    consecutive_losses,
    count_trades_per_bot_since,
    count_trades_since,
    in_flight,
    in_flight_and_today,
    inflight_buy_quote,
    last_fill_per_bot,
    open_trades,
    realized_since,
    realized_today_and_week,
    recent_exits,
    trade_facts_since,
)

# Public names, the counters of trade_counters among them (re-exported: callers, and tests that
# monkeypatch them, use ``trade_repo.<name>``).
__all__ = [
    "LOSS_STREAK_CAP",
    "NON_FINAL",
    "NOT_SENT",
    "QUANTUM",
    "InFlight",
    "adopt_unsent",
    "aggregate_from_fills",
    "consecutive_losses",
    "count_trades_per_bot_since",
    "count_trades_since",
    "due_for_sync",
    "get_trade",
    "give_up_unsent",
    "in_flight",
    "in_flight_and_today",
    "inflight_buy_quote",
    "insert_pending",
    "last_fill_per_bot",
    "lock_trade",
    "mark_acknowledged",
    "needs_attention_per_bot",
    "non_final_ids",
    "open_trades",
    "realized_since",
    "realized_today_and_week",
    "recent_exits",
    "record_fills",
    "set_status",
    "trade_facts_since",
    "unsent_watch_ids",
]

QUANTUM = Decimal("1e-18")  # the scale of Money columns on PostgreSQL

_INSERT = sa.insert(Trade).returning(Trade.id)  # built once: it runs under the trading lock


def insert_pending(
    session: Session,
    *,
    bot_id: int,
    mode: TradingMode,
    side: Side,
    intent: TradeIntent,
    pair: str,
    client_order_id: str,
    requested_quote_size: Decimal | None,
    requested_base_size: Decimal | None,
    signal_snapshot: object,
    confirmation_snapshot: object,
    temperature: TemperatureLevel | None,
    safety_audit_id: int,
    next_sync_at: datetime,
    now: datetime,
) -> int:
    """Insert a PENDING trade (safety passed, order not yet sent); returns its id."""
    trade_id: int = (
        session.connection()
        .execute(
            _INSERT,
            {
                "bot_id": bot_id,
                "mode": mode,
                "side": side,
                "intent": intent,
                "pair": pair,
                "client_order_id": client_order_id,
                "status": TradeStatus.PENDING,
                "requested_quote_size": requested_quote_size,
                "requested_base_size": requested_base_size,
                "filled_base_size": ZERO,
                "filled_value": ZERO,
                "fees": ZERO,
                "signal_snapshot": signal_snapshot,
                "confirmation_snapshot": confirmation_snapshot,
                "temperature": temperature,
                "safety_audit_id": safety_audit_id,
                "position_applied": False,
                "sync_attempts": 0,
                "next_sync_at": next_sync_at,
                "status_history": [_history_entry(TradeStatus.PENDING, now, "safety checks passed")],
                "created_at": now,
                "updated_at": now,
            },
        )
        .scalar_one()
    )
    return trade_id


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


def needs_attention_per_bot(session: Session, mode: TradingMode) -> dict[int, list[tuple[int, str]]]:
    """Unfinished trades a person must look at, per bot, in one statement: (trade id, reason)."""
    stmt = (
        sa.select(Trade.bot_id, Trade.id, Trade.attention_reason)
        .where(Trade.mode == mode, Trade.status.in_(NON_FINAL), Trade.attention_reason.is_not(None))
        .order_by(Trade.id)
    )
    out: dict[int, list[tuple[int, str]]] = {}
    for bot_id, trade_id, reason in session.execute(stmt):
        out.setdefault(bot_id, []).append((trade_id, reason or ""))
    return out


def get_trade(session: Session, trade_id: int) -> Trade | None:
    return session.scalars(
        sa.select(Trade).where(Trade.id == trade_id).options(selectinload(Trade.fills))
    ).first()


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


NOT_SENT = "NOT_SENT"  # failure_code of a trade whose order was never found on the exchange


def give_up_unsent(trade: Trade, reason: str, now: datetime, watch_until: datetime | None) -> None:
    """PENDING without an order id -> FAILED "not sent"; it stays watched (``next_sync_at``)
    until ``watch_until`` in case its order turns up after all."""
    trade.failure_code = NOT_SENT
    trade.failure_reason = reason[:1000]
    trade.last_error = None
    trade.next_sync_at = watch_until
    set_status(trade, TradeStatus.FAILED, now, reason)


def adopt_unsent(trade: Trade, order_id: str, now: datetime) -> None:
    """A "not sent" FAILED trade whose order turned up: OPEN again, following that order."""
    trade.status = adopt(TradeStatus(trade.status))
    trade.order_id = order_id
    trade.failure_code = None
    trade.failure_reason = None
    trade.closed_at = None
    trade.submitted_at = trade.submitted_at or now
    trade.opened_at = trade.opened_at or now
    trade.updated_at = now
    trade.status_history = [
        *(trade.status_history or []),
        _history_entry(TradeStatus.OPEN, now, f"adopted: order {order_id} turned up on the exchange"),
    ]


def unsent_watch_ids(session: Session, mode: TradingMode, now: datetime, since: datetime) -> list[int]:
    """FAILED "not sent" trades created since ``since`` whose next look-up is due."""
    stmt = sa.select(Trade.id).where(
        Trade.mode == mode,
        Trade.created_at >= since,
        Trade.status == TradeStatus.FAILED,
        Trade.order_id.is_(None),
        Trade.failure_code == NOT_SENT,
        Trade.next_sync_at.is_not(None),
        Trade.next_sync_at <= now,
    )
    return list(session.scalars(stmt.order_by(Trade.id)))


def mark_acknowledged(
    session: Session, trade_id: int, order_id: str, now: datetime, next_sync_at: datetime
) -> bool:
    """PENDING without an order id -> OPEN with ``order_id``: the usual ack, in one statement.

    The conditional UPDATE locks the row (PostgreSQL: row lock; SQLite: the database write lock),
    matches only a trade still waiting for its ack and appends to its history in SQL. Returns
    False, changing nothing, for any other trade (the caller then takes the general path through
    :func:`lock_trade` and :func:`set_status`).
    """
    transition(TradeStatus.PENDING, TradeStatus.OPEN)
    entry = _history_entry(TradeStatus.OPEN, now, f"acknowledged: {order_id}")
    done = session.connection().execute(
        _ACK[session.get_bind().dialect.name == "postgresql"],
        {
            "trade_id": trade_id,
            "new_order_id": order_id,
            "entry": json.dumps([entry]),
            "now": now,
            "new_next_sync_at": next_sync_at,
        },
    )
    return bool(done.rowcount == 1)


def _ack_statement(postgresql: bool) -> sa.Update:
    """The ack UPDATE; the history append is the one dialect-specific part (JSONB ``||`` on
    PostgreSQL, ``json_insert`` on SQLite), both appending the one-element array ``:entry``."""
    entry = sa.bindparam("entry", type_=sa.String)
    history: sa.ColumnElement[Any]
    if postgresql:
        history = sa.func.coalesce(Trade.status_history, sa.cast("[]", JSONB)).op("||")(sa.cast(entry, JSONB))
    else:
        history = sa.func.json_insert(
            sa.func.coalesce(Trade.status_history, "[]"), "$[#]", sa.func.json_extract(entry, "$[0]")
        )
    now = sa.bindparam("now", type_=Trade.__table__.c.updated_at.type)
    return (
        sa.update(Trade)
        .where(
            Trade.id == sa.bindparam("trade_id"),
            Trade.status == TradeStatus.PENDING,
            Trade.order_id.is_(None),
        )
        .values(
            order_id=sa.bindparam("new_order_id", type_=Trade.__table__.c.order_id.type),
            status=TradeStatus.OPEN,
            status_history=history,
            submitted_at=sa.func.coalesce(Trade.submitted_at, now),
            opened_at=sa.func.coalesce(Trade.opened_at, now),
            last_error=None,
            sync_attempts=0,
            next_sync_at=sa.bindparam("new_next_sync_at", type_=Trade.__table__.c.next_sync_at.type),
            updated_at=now,
        )
    )


_ACK = {False: _ack_statement(postgresql=False), True: _ack_statement(postgresql=True)}


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
                value=r.value,
            )
        )
        known.add(r.fill_id)
        added += 1
    return added


def aggregate_from_fills(trade: Trade, fills: Sequence[Fill] | None = None) -> None:
    """Filled size, value, fees and average price: always from the recorded fills."""
    rows = list(trade.fills if fills is None else fills)
    base = sum((f.base_size for f in rows), ZERO)
    value = sum((fill_value(f) for f in rows), ZERO)
    fees = sum((f.fee for f in rows), ZERO)
    trade.filled_base_size = base
    trade.filled_value = value
    trade.fees = fees
    trade.average_fill_price = (value / base).quantize(QUANTUM) if base > 0 else None
    trade.last_fill_at = max((f.time for f in rows), default=None)
