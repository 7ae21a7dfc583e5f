"""A cheap "certainly no exit at this bid" test for the protection pass (pure).

The protection pass checks every holding bot every tick, and almost every tick the bid is
nowhere near any bot's stop-loss, trailing stop or next take-profit rung. Running the full
:func:`coinpilot.domain.decision.decide` (Decimal division for the average entry, rounding to
the product's increment, the product's minimums, reason strings) for each of them costs more
than the whole tick may. :class:`ExitLevels` holds the three prices that matter, as floats
widened by a relative margin far larger than the float conversion error, so that
:meth:`ExitLevels.quiet` answers True only when ``decide(view, None, bid, ...)`` is certainly
None. Whenever a level is within the margin (or a value is not a usable float), it answers
False and the caller runs the exact ``decide``: the fast path never changes a decision, it only
skips ones whose answer is known (``tests/unit/test_exit_levels.py`` checks this on random
positions, strategies and bids).

The levels depend on the position, the strategy, the rungs already taken and the protection
switch, not on the bid: a caller computes them once and keeps them until one of those changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from coinpilot.domain.levels import stop_loss_price, take_profit_price, trailing_stop_price
from coinpilot.domain.position import PositionState
from coinpilot.domain.strategy import StrategyConfig

__all__ = ["MARGIN", "ExitLevels"]

# Relative widening of every level: float conversion is exact to ~1e-16, Decimal to ~1e-27.
MARGIN = 1e-9
_INF = math.inf


def _above(level: Decimal) -> float:
    """A float that is certainly above ``level`` (NaN when it cannot be represented)."""
    f = float(level)
    return f + abs(f) * MARGIN if math.isfinite(f) else math.nan


def _below(level: Decimal) -> float:
    f = float(level)
    return f - abs(f) * MARGIN if math.isfinite(f) else math.nan


@dataclass(frozen=True, slots=True)
class ExitLevels:
    """Where an exit could fire for one position: no stop-loss while the bid is above
    ``stop_above``, no take-profit while it is below ``take_profit_below``, no trailing stop
    while it is above ``trail_factor`` times the high-water mark (widened by ``MARGIN``)."""

    stop_above: float = -_INF
    take_profit_below: float = _INF
    trail_factor: float | None = None  # None: no trailing stop

    @classmethod
    def of(
        cls,
        position: PositionState,
        strategy: StrategyConfig,
        rungs_taken: frozenset[int],
        protection_off: bool = False,
    ) -> ExitLevels:
        """The levels of this position under this strategy (a flat position never exits)."""
        avg = position.avg_entry_price
        if protection_off or avg is None:
            return cls()  # no automatic exit at any bid (a signal exit needs a signal)
        stop_above = -_INF
        if strategy.stop_loss_pct is not None:
            stop_above = _above(stop_loss_price(avg, strategy.stop_loss_pct))
        trail: float | None = None
        if strategy.trailing_stop_pct is not None:
            # The exact stop is peak * (1 - pct/100); the factor is widened here and the
            # product again in ``quiet`` (both roundings are far inside the margin).
            trail = _above(trailing_stop_price(Decimal(1), strategy.trailing_stop_pct))
        take_below = _INF
        last_taken = max(rungs_taken, default=-1)
        for i, (gain, _pct) in enumerate(strategy.take_profit_ladder):
            if i > last_taken:  # the first rung not taken: no later rung is reached before it
                take_below = _below(take_profit_price(avg, gain))
                break
        return cls(stop_above, take_below, trail)

    def quiet(self, bid: float, high_water: float | None) -> bool:
        """True only when no exit can fire at ``bid`` with this high-water mark (both as floats
        of the exact Decimals); False means "ask the exact decision". Comparisons are written so
        that a NaN anywhere answers False."""
        if not (bid > self.stop_above and bid < self.take_profit_below):
            return False
        if self.trail_factor is None or high_water is None:
            return True
        if high_water != high_water:  # NaN: the peak is unknown
            return False
        peak = high_water if high_water > bid else bid
        stop = peak * self.trail_factor
        return bid > stop + abs(stop) * MARGIN
