"""What a trade means for the limits: answered once, here, over facts the store loads.

The store used to answer these in SQL (a ``WHERE`` clause here, a ``CASE`` there), so the safety
check, the dashboard and the CLI could each count by slightly different rules. Now ``store/``
only loads the facts (status, whether the exchange acknowledged the order, sizes, fill times)
and these functions decide:

- :func:`counts_against_limits`: every trade counts toward the daily trade limits except one
  refused before the exchange acknowledged it (FAILED without an order id): it never reached
  the market.
- :func:`inflight_buy_value`: a buy not yet applied to a position counts as exposure at its
  quote size, or its base size at its average fill price so far, else at the price safety
  approved it at (fail safe: never counted as zero when a price is known).
- :func:`realised_at`: realised P&L is dated by the trade's last fill, not by its settlement
  (a sell filled at 23:59 and settled at 00:01 belongs to the day it was sold).
- What ends a loss streak: :func:`coinpilot.domain.usage.ends_loss_streak`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from coinpilot.domain.types import TradeStatus

__all__ = [
    "TradeFact",
    "count_trades",
    "count_trades_per_bot",
    "counts_against_limits",
    "inflight_buy_value",
    "realised_at",
]

ZERO = Decimal(0)


def counts_against_limits(status: TradeStatus | str, acknowledged: bool) -> bool:
    """Whether a trade counts toward the daily trade limits (see the module docstring)."""
    return not (TradeStatus(status) is TradeStatus.FAILED and not acknowledged)


def inflight_buy_value(
    quote_size: Decimal | None,
    base_size: Decimal | None,
    fill_price: Decimal | None,
    approved_price: Decimal | None,
) -> Decimal:
    """The quote an unapplied buy commits (see the module docstring); zero when no size or
    price is known at all."""
    if quote_size is not None:
        return quote_size
    if base_size is not None:
        price = fill_price or approved_price
        if price is not None:
            return base_size * price
    return ZERO


def realised_at(last_fill_at: datetime | None, settled_at: datetime | None) -> datetime | None:
    """When a trade's realised P&L counts: its last fill, else (no fill time known) when it
    was settled."""
    return last_fill_at if last_fill_at is not None else settled_at


@dataclass(frozen=True)
class TradeFact:
    """Trades of today as the store loads them for the daily counts: ``count`` trades of one
    bot with this status, acknowledged or not (the store groups them; the domain decides)."""

    bot_id: int
    status: TradeStatus
    acknowledged: bool  # the exchange gave it an order id
    count: int = 1


def count_trades(facts: Iterable[TradeFact], bot_id: int | None = None) -> int:
    """Trades counting against the daily limits among ``facts`` (one bot's, or all)."""
    return sum(
        f.count
        for f in facts
        if (bot_id is None or f.bot_id == bot_id) and counts_against_limits(f.status, f.acknowledged)
    )


def count_trades_per_bot(facts: Iterable[TradeFact]) -> dict[int, int]:
    """Trades counting against the daily limits, per bot (bots without one are left out)."""
    out: dict[int, int] = {}
    for f in facts:
        if counts_against_limits(f.status, f.acknowledged):
            out[f.bot_id] = out.get(f.bot_id, 0) + f.count
    return out
