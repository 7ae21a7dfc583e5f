"""Booking a paper order's outcome: the order's totals, its fill row, the balances it credits.

Split from :mod:`coinpilot.exchange.paper` because both ways an order is filled use it: inside
``place_market_order`` when there is no fill delay, and later when the order falls due (a
cancel releases its hold here too). The arithmetic is
:func:`~coinpilot.exchange.paper_rules.compute_fill`; this applies its answer to the rows,
inside the caller's write-locked transaction.

Fill arithmetic (price ``p`` already includes adverse slippage and is quantised to the price
increment: buys round up, sells round down; fee rate ``r``):

- **Quote-sized buy of Q** (fee included, Coinbase's identity kept exactly):
  ``base = floor_to_base_increment(Q / ((1 + r) * p))``, ``filled_value = base * p``,
  ``fee = Q - filled_value``. So ``filled_value + fee == Q`` and ``filled_value / base == p``
  exactly; the fee is ``r * filled_value`` plus the rounding dust of ``base`` (< ``p * 1e-8``).
  The quote balance falls by exactly ``Q``, the base balance rises by exactly ``base``.
- **Base-sized sell of b**: ``filled_value = b * p``, ``fee = filled_value * r`` (exact, not
  rounded), proceeds ``filled_value - fee`` are credited; the base balance falls by exactly ``b``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from coinpilot.domain.exchange_values import ExchangeOrderStatus
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.types import Side
from coinpilot.exchange.paper_queries import fresh_balances
from coinpilot.exchange.paper_rules import compute_fill, reservation
from coinpilot.store.models import PaperBalance, PaperFill, PaperOrder


def apply_fill(
    s: Session,
    o: PaperOrder,
    bal: dict[str, PaperBalance],
    now: datetime,
    *,
    slippage: Decimal,
    fee_rate: Decimal,
    product: Product | None = None,
    quote: BestBidAsk | None = None,
    failure: str | None = None,
) -> None:
    """Fill (or fail) order ``o`` whose funds are reserved; ``bal`` holds its currencies' rows.

    Call inside the write-locked transaction that owns ``o``.
    """
    base_cur, quote_cur = o.pair.split("-", 1)

    def credit(cur: str, amount: Decimal) -> None:
        row = bal.get(cur)
        if row is None:
            row = PaperBalance(currency=cur, available=Decimal(0), updated_at=now)
            s.add(row)
            bal[cur] = row
        row.available = row.available + amount
        row.updated_at = now

    fill = None if failure else compute_fill(o, product, quote, slippage, fee_rate)
    if fill is None or isinstance(fill, str):
        o.status = ExchangeOrderStatus.FAILED.value
        o.reject_reason = (failure or fill or "fill failed")[:200]
        cur, amount = reservation(o.pair, o.side, o.quote_size, o.base_size)
        credit(cur, amount)  # release the hold
        return
    price, base, value, fee = fill
    o.status = ExchangeOrderStatus.FILLED.value
    o.filled_base, o.average_price, o.filled_value, o.total_fees = base, price, value, fee
    o.filled_at = now
    if o in s.new:
        s.flush()  # a new order row is written (filled) before its fill row: foreign key
    s.add(
        PaperFill(
            fill_id=str(uuid.uuid4()),
            order_id=o.order_id,
            price=price,
            base_size=base,
            fee=fee,
            liquidity="TAKER",
            time=now,
        )
    )
    if o.side is Side.BUY:
        credit(base_cur, base)  # the quote hold (Q = value + fee) is consumed entirely
    else:
        credit(quote_cur, value - fee)  # the base hold is consumed entirely


def release_hold(s: Session, o: PaperOrder, now: datetime) -> None:
    """Give a cancelled order's reserved funds back (call after :func:`.paper_queries.write_lock`)."""
    cur, amount = reservation(o.pair, o.side, o.quote_size, o.base_size)
    row = fresh_balances(s, [cur]).get(cur)
    if row is None:
        s.add(PaperBalance(currency=cur, available=amount, updated_at=now))
    else:
        row.available = row.available + amount
