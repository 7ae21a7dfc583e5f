"""The prices at which a position's protection acts: stop-loss, trailing stop, take-profit rungs.

One definition for the exit decision (``strategy.exit_decision``) and for the lines the bot page
draws on its chart, so the chart shows exactly where the engine would sell.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

HUNDRED = Decimal(100)


def stop_loss_price(avg_entry: Decimal, stop_loss_pct: Decimal) -> Decimal:
    """Sell everything when the bid is at or below this."""
    return avg_entry * (1 - stop_loss_pct / HUNDRED)


def trailing_stop_price(high_water: Decimal, trailing_stop_pct: Decimal) -> Decimal:
    """Sell everything when the bid falls to this, measured from the highest bid since entry."""
    return high_water * (1 - trailing_stop_pct / HUNDRED)


def take_profit_price(avg_entry: Decimal, gain_pct: Decimal) -> Decimal:
    """A take-profit rung sells its share when the bid reaches this."""
    return avg_entry * (1 + gain_pct / HUNDRED)


class _Protection(Protocol):
    @property
    def stop_loss_pct(self) -> Decimal | None: ...
    @property
    def trailing_stop_pct(self) -> Decimal | None: ...
    @property
    def take_profit_ladder(self) -> tuple[tuple[Decimal, Decimal], ...]: ...


@dataclass(frozen=True)
class ProtectionLevels:
    stop_loss: Decimal | None
    trailing_stop: Decimal | None
    take_profit: tuple[tuple[Decimal, Decimal], ...]  # (price, % of the position sold there)


def protection_levels(
    cfg: _Protection, avg_entry: Decimal | None, high_water: Decimal | None
) -> ProtectionLevels:
    """Every level that applies to a position with this average entry (none when flat)."""
    if avg_entry is None:
        return ProtectionLevels(None, None, ())
    stop = stop_loss_price(avg_entry, cfg.stop_loss_pct) if cfg.stop_loss_pct is not None else None
    trailing = None
    if cfg.trailing_stop_pct is not None and high_water is not None:
        trailing = trailing_stop_price(high_water, cfg.trailing_stop_pct)
    rungs = tuple((take_profit_price(avg_entry, gain), pct) for gain, pct in cfg.take_profit_ladder)
    return ProtectionLevels(stop, trailing, rungs)
