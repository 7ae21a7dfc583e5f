"""What the fills of a backtest add up to: position cycles (round trips), entries per tranche
and exits per reason, each sell's realised P&L by the average-cost method (pure).

A *trade* (round trip) is one position cycle: from the buy that opens a position to the sell
that leaves less than the product's minimum size (dust cannot be sold). Its P&L is the sum of its
exits' realised P&L (after fees: the average entry includes entry fees). Exits are grouped by
their intent code (``stop_loss``, ``take_profit``, ``signal_exit``…), as the live analytics group
by exit reason; each fill's own sentence stays in the fills list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from coinpilot.backtest.result import BacktestFill
from coinpilot.domain.types import Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class RoundTrip:
    """One position cycle: opened by a buy from flat, closed when what is left is dust."""

    opened_at: datetime
    closed_at: datetime | None  # None: still open at the end of the data
    entries: int
    exits: int
    bought_quote: Decimal  # quote spent on entries, before fees
    pnl: Decimal  # realised by the exits (after all fees)
    fees: Decimal
    exit_reason: str | None  # the reason of the exit that closed it


@dataclass(frozen=True)
class TrancheRow:
    tranche: int  # 0-based, as the driver numbers them; shown 1-based
    entries: int
    quote_spent: Decimal
    fees: Decimal
    average_price: Decimal | None


@dataclass(frozen=True)
class ExitReasonRow:
    reason: str
    exits: int
    base_sold: Decimal
    pnl: Decimal
    fees: Decimal
    wins: int
    losses: int


def realised(fill: BacktestFill, average_cost: Decimal) -> Decimal:
    """A sell's realised P&L: the driver's figure when it gives one, else average-cost method
    (proceeds after the fee minus the average cost, entry fees included, of what was sold)."""
    if fill.realised_pnl is not None:
        return fill.realised_pnl
    return fill.quote_value - fill.fee - average_cost * fill.base_size


@dataclass
class _OpenTrip:
    opened_at: datetime
    entries: int = 0
    exits: int = 0
    bought: Decimal = ZERO
    pnl: Decimal = ZERO
    fees: Decimal = ZERO

    def close(self, at: datetime | None, reason: str | None) -> RoundTrip:
        return RoundTrip(
            self.opened_at, at, self.entries, self.exits, self.bought, self.pnl, self.fees, reason
        )


def round_trips(fills: Sequence[BacktestFill], dust_size: Decimal = ZERO) -> list[RoundTrip]:
    """Position cycles from the fills in time order (see the module docstring)."""
    trips: list[RoundTrip] = []
    held = ZERO
    cost = ZERO  # entry cost, fees included, of what is held
    current: _OpenTrip | None = None
    for fill in sorted(fills, key=lambda f: f.at):
        if current is None:  # a sell without a known entry cannot happen; it would be its own trip
            current = _OpenTrip(fill.at)
        current.fees += fill.fee
        if fill.side == Side.BUY:
            current.entries += 1
            current.bought += fill.quote_value
            held += fill.base_size
            cost += fill.quote_value + fill.fee
            continue
        average = cost / held if held > 0 else ZERO
        current.exits += 1
        current.pnl += realised(fill, average)
        sold = min(fill.base_size, held)
        cost -= average * sold
        held -= sold
        if held <= 0 or held < dust_size:
            trips.append(current.close(fill.at, fill.intent.value))
            current, held, cost = None, ZERO, ZERO
    if current is not None:
        trips.append(current.close(None, None))
    return trips


def tranche_table(fills: Sequence[BacktestFill]) -> list[TrancheRow]:
    by: dict[int, list[BacktestFill]] = {}
    for f in fills:
        if f.side == Side.BUY:
            by.setdefault(f.tranche if f.tranche is not None else 0, []).append(f)
    rows = []
    for tranche, group in sorted(by.items()):
        spent = sum((f.quote_value for f in group), ZERO)
        base = sum((f.base_size for f in group), ZERO)
        rows.append(
            TrancheRow(
                tranche=tranche,
                entries=len(group),
                quote_spent=spent,
                fees=sum((f.fee for f in group), ZERO),
                average_price=spent / base if base > 0 else None,
            )
        )
    return rows


def exit_events(fills: Sequence[BacktestFill]) -> list[tuple[BacktestFill, Decimal]]:
    """Every sell with the P&L it realised (average-cost, like the live ledger)."""
    held, cost = ZERO, ZERO
    out = []
    for f in sorted(fills, key=lambda x: x.at):
        if f.side == Side.BUY:
            held += f.base_size
            cost += f.quote_value + f.fee
            continue
        average = cost / held if held > 0 else ZERO
        out.append((f, realised(f, average)))
        sold = min(f.base_size, held)
        cost -= average * sold
        held -= sold
    return out


def exit_reason_table(events: Sequence[tuple[BacktestFill, Decimal]]) -> list[ExitReasonRow]:
    by: dict[str, list[tuple[BacktestFill, Decimal]]] = {}
    for f, pnl in events:
        by.setdefault(f.intent.value, []).append((f, pnl))
    return [
        ExitReasonRow(
            reason=reason,
            exits=len(group),
            base_sold=sum((f.base_size for f, _ in group), ZERO),
            pnl=sum((p for _, p in group), ZERO),
            fees=sum((f.fee for f, _ in group), ZERO),
            wins=sum(1 for _, p in group if p > 0),
            losses=sum(1 for _, p in group if p < 0),
        )
        for reason, group in sorted(by.items())
    ]
