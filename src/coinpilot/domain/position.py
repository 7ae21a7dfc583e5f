"""Position and tranche math: average-cost method, fees in quote currency.

Exactly the rules of ARCHITECTURE.md "Position math":

- buy fill (b, p, f): ``size += b``; ``cost += b*p + f``; ``avg_entry = cost / size``;
- sell fill (s, p, f): ``realised += s*p - f - s*avg_entry``; ``cost -= s*avg_entry``;
  ``size -= s`` (the average entry is unchanged by exits);
- unrealised P&L at mark m (best bid): ``size*m - cost``.

On a full close the remaining cost is used instead of ``s*avg_entry``, so a flat position has
cost exactly 0 (no rounding residue). The exit cost share ``s*avg_entry`` is rounded to 1e-18
(the scale of the money columns) and the same rounded value is taken off the cost and off the
realised P&L, so ``realised + unrealised(m) == cash + size*m - c0`` holds exactly.

One position per bot, built from up to ``max_tranches`` entry tranches (one per entry trade).
When the position closes fully its tranches are closed and the next entry starts a new cycle;
realised P&L and fees keep accumulating across cycles. State objects are immutable: every
function returns a new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Protocol

from coinpilot.domain.evolve import build, evolve
from coinpilot.domain.types import PositionStatus

__all__ = [
    "COST_QUANTUM",
    "FillAmount",
    "FillLike",
    "PositionState",
    "TrancheState",
    "apply_entry",
    "apply_exit",
    "fill_value",
]

ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-18")  # the scale of Money columns (NUMERIC(38, 18))
# Wide enough that sums and products of realistic money never round. The one-operation
# helpers below call its methods (``_CTX.multiply``): the same arithmetic as under
# ``localcontext(_CTX)``, without copying and switching the thread's context on every mark.
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)


class FillLike(Protocol):
    """Anything with a fill's price, base size and quote fee (store rows, adapter fills), and
    optionally the quote value the exchange accounted (None: ``base_size * price``)."""

    @property
    def price(self) -> Decimal: ...

    @property
    def base_size(self) -> Decimal: ...

    @property
    def fee(self) -> Decimal: ...

    @property
    def value(self) -> Decimal | None: ...


@dataclass(frozen=True)
class FillAmount:
    """A plain fill value, for callers and tests that have no fill object of their own."""

    price: Decimal
    base_size: Decimal
    fee: Decimal = ZERO
    value: Decimal | None = None


def fill_value(f: FillLike) -> Decimal:
    """The quote value of a fill before fees: as the exchange accounted it, else size x price."""
    value = f.value
    return value if value is not None else _CTX.multiply(f.base_size, f.price)


@dataclass(frozen=True)
class TrancheState:
    """One entry trade of the current cycle. ``entry_price`` is fill-weighted, before fees."""

    trade_id: int
    entry_price: Decimal
    base_size: Decimal
    cost: Decimal  # base_size * entry_price + fee
    fee: Decimal
    opened_at: datetime


@dataclass(frozen=True)
class PositionState:
    base_size: Decimal = ZERO
    cost: Decimal = ZERO  # incl. entry fees, minus the cost share of exits
    realized_pnl: Decimal = ZERO
    total_fees: Decimal = ZERO
    tranches: tuple[TrancheState, ...] = ()
    reducing: bool = False  # the last trade was a partial exit
    dust_base_size: Decimal = ZERO  # unsellable remainders set aside when cycles closed
    dust_value: Decimal = ZERO  # their value at the exit prices that left them

    @property
    def is_flat(self) -> bool:
        return self.base_size == 0

    @property
    def avg_entry_price(self) -> Decimal | None:
        """Cost per unit held, fees included; None when flat."""
        if self.base_size == 0:
            return None
        return _CTX.divide(self.cost, self.base_size)

    @property
    def last_entry_price(self) -> Decimal | None:
        """Entry price of the newest tranche of this cycle (for DCA steps); None when none."""
        return self.tranches[-1].entry_price if self.tranches else None

    @property
    def opened_at(self) -> datetime | None:
        return self.tranches[0].opened_at if self.tranches else None

    def status(self, max_tranches: int) -> PositionStatus:
        if self.base_size == 0:
            return PositionStatus.FLAT
        if self.reducing:
            return PositionStatus.REDUCING
        if len(self.tranches) >= max_tranches:
            return PositionStatus.OPEN
        return PositionStatus.BUILDING

    def market_value(self, mark: Decimal) -> Decimal:
        return _CTX.multiply(self.base_size, mark)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """``size*mark - cost``; 0 when flat. Use the best bid as mark (what a sale would get)."""
        return _CTX.subtract(_CTX.multiply(self.base_size, mark), self.cost)


def _check_fills(fills: Sequence[FillLike]) -> None:
    if not fills:
        raise ValueError("no fills to apply")
    for f in fills:
        if not f.price > 0:
            raise ValueError(f"fill price must be positive, got {f.price}")
        if not f.base_size > 0:
            raise ValueError(f"fill base size must be positive, got {f.base_size}")
        if f.fee < 0:
            raise ValueError(f"fill fee must not be negative, got {f.fee}")


def apply_entry(pos: PositionState, fills: Sequence[FillLike], trade_id: int, at: datetime) -> PositionState:
    """Add one entry trade's fills to the position as one new tranche.

    Raises ValueError for empty or invalid fills and for a trade already applied (applying the
    same trade twice would double-count it).
    """
    _check_fills(fills)
    if any(t.trade_id == trade_id for t in pos.tranches):
        raise ValueError(f"trade {trade_id} is already a tranche of this position")
    with localcontext(_CTX):
        base = value = fee = ZERO  # summed from zero, fill by fill (one pass)
        for f in fills:
            base += f.base_size
            value += fill_value(f)
            fee += f.fee
        entry_price = (value / base).quantize(COST_QUANTUM)
        cost = value + fee
        tranche = build(
            TrancheState,
            trade_id=trade_id,
            entry_price=entry_price,
            base_size=base,
            cost=cost,
            fee=fee,
            opened_at=at,
        )
        tranches = pos.tranches if pos.base_size > 0 else ()
        return evolve(
            pos,
            base_size=pos.base_size + base,
            cost=pos.cost + cost,
            total_fees=pos.total_fees + fee,
            tranches=(*tranches, tranche),
            reducing=False,
        )


def apply_exit(
    pos: PositionState, fills: Sequence[FillLike], dust_below: Decimal = ZERO
) -> tuple[PositionState, Decimal]:
    """Apply one exit trade's fills; return the new state and the P&L realised by this exit.

    A remainder smaller than ``dust_below`` closes the cycle as dust (see the module docstring);
    its written-off cost is part of the P&L returned. Raises ValueError when the fills sell more
    than the position holds (nothing is applied).
    """
    _check_fills(fills)
    with localcontext(_CTX):
        sold = sum((f.base_size for f in fills), ZERO)
        if sold > pos.base_size:
            raise ValueError(f"cannot sell {sold}: the position holds only {pos.base_size}")
        size, cost, fees, realised = pos.base_size, pos.cost, ZERO, ZERO
        for f in fills:
            if f.base_size == size:
                share = cost  # full close: take the whole remaining cost, no residue
            else:
                share = (f.base_size * cost / size).quantize(COST_QUANTUM)
            realised += fill_value(f) - f.fee - share
            cost -= share
            size -= f.base_size
            fees += f.fee
        dust, dust_value = ZERO, ZERO
        if 0 < size < dust_below:
            dust, dust_value = size, (size * fills[-1].price).quantize(COST_QUANTUM)
            realised -= cost  # the dust's cost: it can never be sold
            size, cost = ZERO, ZERO
        closed = size == 0
        new = evolve(
            pos,
            base_size=size,
            cost=ZERO if closed else cost,
            realized_pnl=pos.realized_pnl + realised,
            total_fees=pos.total_fees + fees,
            tranches=() if closed else pos.tranches,
            reducing=not closed,
            dust_base_size=pos.dust_base_size + dust,
            dust_value=pos.dust_value + dust_value,
        )
        return new, realised
