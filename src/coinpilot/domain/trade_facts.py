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
- :func:`counts_as_buy_in_flight` / :func:`exposure`: a buy not yet applied to its position is
  exposure already: the bot's position cost and the account's exposure are the positions' cost
  plus those buys, for the safety check and the dashboard alike.
- :func:`unheld_by_orders`: how much of each balance in-flight orders already hold that a
  balance read may not show yet (what the reserve and "coins to sell" checks subtract).
- :func:`realised_at`: realised P&L is dated by the trade's last fill, not by its settlement
  (a sell filled at 23:59 and settled at 00:01 belongs to the day it was sold).
- What ends a loss streak: :func:`coinpilot.domain.usage.ends_loss_streak`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from coinpilot.domain.types import Side, TradeStatus

__all__ = [
    "OpenOrderFact",
    "TradeFact",
    "count_trades",
    "count_trades_per_bot",
    "counts_against_limits",
    "counts_as_buy_in_flight",
    "exposure",
    "inflight_buy_value",
    "realised_at",
    "shown_by_balance_read",
    "unheld_by_orders",
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


def counts_as_buy_in_flight(side: Side | str, position_applied: bool) -> bool:
    """Whether a non-final order commits quote not yet in any position: a buy whose fills
    are not applied to the position yet (once applied, the position's cost holds it)."""
    return Side(side) is Side.BUY and not position_applied


def exposure(position_cost: Decimal, buys_in_flight: Iterable[Decimal]) -> Decimal:
    """What the position and exposure limits count: the positions' cost plus the buys in
    flight not applied yet (:func:`inflight_buy_value` each). Fail safe: a buy counts from
    the moment it is accepted, not from its settlement. One bot's position or the account's."""
    return position_cost + sum(buys_in_flight, ZERO)


@dataclass(frozen=True)
class OpenOrderFact:
    """A non-final order as the store loads it for the balance holds (plain values)."""

    pair: str  # "BASE-QUOTE"
    side: Side
    acknowledged_at: datetime | None  # when the exchange acknowledged it (None: not yet)
    base_size: Decimal | None  # the base size asked for (a sell's whole order)
    buy_value: Decimal = ZERO  # a buy's :func:`inflight_buy_value`; unused for a sell


def shown_by_balance_read(acknowledged_at: datetime | None, read_at: datetime) -> bool:
    """Whether a balance read at ``read_at`` already reflects the order: the exchange had
    acknowledged it strictly before the read, so its ``available`` shows it as a hold or as a
    fill. An order not acknowledged yet, or acknowledged at or after the read, may not be shown
    (equal times are not trusted: stricter if in doubt)."""
    return acknowledged_at is not None and acknowledged_at < read_at


def unheld_by_orders(orders: Iterable[OpenOrderFact], read_at: datetime) -> dict[str, Decimal]:
    """Per currency, what in-flight orders will take from balances read at ``read_at`` that
    the read may not show yet (:func:`shown_by_balance_read`): a buy its value in the quote
    currency, a sell its whole base size in the base currency (a partial fill the read does
    not show is still to be taken, so the whole order counts). Counted at worst twice, never
    missed: this is what makes the reserve hold against simultaneous buys of two bots."""
    out: dict[str, Decimal] = {}
    for o in orders:
        if shown_by_balance_read(o.acknowledged_at, read_at):
            continue
        base_cur, _, quote_cur = o.pair.partition("-")
        if o.side is Side.BUY:
            out[quote_cur] = out.get(quote_cur, ZERO) + o.buy_value
        elif o.base_size is not None:
            out[base_cur] = out.get(base_cur, ZERO) + o.base_size
    return out


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
