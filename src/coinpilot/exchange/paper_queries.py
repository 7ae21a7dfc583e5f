"""The paper exchange's SQL: its statements built once, its write lock, and the reads it answers from.

Split from :mod:`coinpilot.exchange.paper` (placing, filling, cancelling) so that module stays
about the order's life. Every order and every sync pass runs these statements, so they are built
once at import: building one costs more than SQLite takes to run it. The read helpers turn rows
into the answers of :class:`~coinpilot.exchange.base.Exchange` (balances with holds, order
snapshots, fill reports) inside a session the caller owns.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.exchange_values import Balance, ExchangeOrderStatus, FillReport, OrderSnapshot
from coinpilot.exchange.paper_rules import reservation
from coinpilot.store.models import PaperBalance, PaperFill, PaperOrder

OPEN = ExchangeOrderStatus.OPEN.value
PAPER_LOCK_KEY = 0x636F696E_70617072  # advisory lock id for the paper account ("coinpapr")

# The statements every order and every sync pass runs, built once (building costs more than
# SQLite takes to run them).
_OPEN_ORDERS = sa.select(PaperOrder).where(PaperOrder.status == OPEN).order_by(PaperOrder.created_at)
_ALL_BALANCES = sa.select(PaperBalance)
_BALANCES = sa.select(PaperBalance).where(
    PaperBalance.currency.in_(sa.bindparam("currencies", expanding=True))
)
_PG_LOCK = sa.select(sa.func.pg_advisory_xact_lock(PAPER_LOCK_KEY))
_SQLITE_LOCK = sa.update(PaperBalance).where(PaperBalance.currency == "").values(currency="")
BY_CLIENT_ID = sa.select(PaperOrder).where(PaperOrder.client_order_id == sa.bindparam("client_order_id"))
_BY_ORDER_IDS = sa.select(PaperOrder).where(
    PaperOrder.order_id.in_(sa.bindparam("order_ids", expanding=True))
)
_FILL_COUNTS = (
    sa.select(PaperFill.order_id, sa.func.count())
    .where(PaperFill.order_id.in_(sa.bindparam("order_ids", expanding=True)))
    .group_by(PaperFill.order_id)
)
_FILLS_OF = (
    sa.select(PaperFill).where(PaperFill.order_id == sa.bindparam("order_id")).order_by(PaperFill.time)
)


def write_lock(s: Session) -> None:
    """First statement of every paper write: one account-wide lock, so no deadlocks.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write matching no row, which
    takes the database write lock before anything is read (no stale-snapshot upgrade).
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(_PG_LOCK)
    else:
        s.execute(_SQLITE_LOCK)


def claim_open(s: Session, order_id: str, status: ExchangeOrderStatus) -> PaperOrder | None:
    """Take the write lock and move an OPEN order to ``status``; the fresh row, or None if the
    order is not OPEN (someone else filled or cancelled it first)."""
    write_lock(s)
    claimed = s.execute(
        sa.update(PaperOrder)
        .where(PaperOrder.order_id == order_id, PaperOrder.status == ExchangeOrderStatus.OPEN.value)
        .values(status=status.value)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return s.get(PaperOrder, order_id, populate_existing=True)


def fresh_balances(s: Session, currencies: Sequence[str]) -> dict[str, PaperBalance]:
    """Fresh balance rows (call after :func:`write_lock`); missing rows are absent."""
    rows = s.scalars(
        _BALANCES,
        {"currencies": sorted(set(currencies))},
        execution_options={"populate_existing": True},
    )
    return {row.currency: row for row in rows}


def open_orders(s: Session) -> Sequence[PaperOrder]:
    return s.scalars(_OPEN_ORDERS).all()


def balances_with_holds(
    s: Session, open_orders: Sequence[PaperOrder], currencies: Sequence[str] | None = None
) -> dict[str, Balance]:
    """Balances per currency: ``available`` as stored, ``hold`` the funds of ``open_orders``."""
    wanted = None if currencies is None else set(currencies)
    holds: dict[str, Decimal] = {}
    for o in open_orders:
        cur, amount = reservation(o.pair, o.side, o.quote_size, o.base_size)
        if wanted is None or cur in wanted:
            holds[cur] = holds.get(cur, Decimal(0)) + amount
    if wanted is None:
        rows = s.scalars(_ALL_BALANCES).all()
    else:
        rows = s.scalars(_BALANCES, {"currencies": sorted(wanted)}).all()
    out = {r.currency: Balance(r.currency, r.available, holds.pop(r.currency, Decimal(0))) for r in rows}
    for cur, hold in holds.items():
        out[cur] = Balance(cur, Decimal(0), hold)
    return out


def orders_by_id(s: Session, ids: Sequence[str]) -> dict[str, PaperOrder]:
    return {o.order_id: o for o in s.scalars(_BY_ORDER_IDS, {"order_ids": list(ids)})}


def snapshots(s: Session, ids: Sequence[str], orders: dict[str, PaperOrder]) -> list[OrderSnapshot]:
    """Snapshots of ``orders`` in the order of ``ids`` (unknown ids left out), with fill counts."""
    rows = s.execute(_FILL_COUNTS, {"order_ids": list(ids)}).all()
    counts = {oid: int(n) for oid, n in rows}
    return [snapshot(orders[i], counts.get(i, 0)) for i in ids if i in orders]


def snapshot(o: PaperOrder, fills: int) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        pair=o.pair,
        side=o.side,
        status=ExchangeOrderStatus(o.status),
        filled_base=o.filled_base,
        average_price=o.average_price,
        filled_value=o.filled_value,
        total_fees=o.total_fees,
        number_of_fills=fills,
        reject_reason=o.reject_reason,
        created_at=o.created_at,
        last_fill_at=o.filled_at,
    )


def fill_reports(s: Session, order_id: str) -> list[FillReport]:
    """Fills of one order, oldest first."""
    rows = s.scalars(_FILLS_OF, {"order_id": order_id}).all()
    return [FillReport(f.fill_id, f.order_id, f.price, f.base_size, f.fee, f.liquidity, f.time) for f in rows]
