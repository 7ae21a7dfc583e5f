"""The replayed market's quote at each backtest tick: what ``ReplayMarketData`` would answer.

Live mock mode prices "now" from the shipped candles (:mod:`coinpilot.exchange.replay`): at a
candle boundary ``T`` the mid is the open of the candle starting at ``T`` (interpolation at its
start), or the last close inside a gap or after the data; mid rounded half-even to the price
increment, bid = mid x (1 - spread/2) rounded down, ask = mid x (1 + spread/2) rounded up, at
least one tick apart. The backtest keeps the raw mid of every tick as floats (to scan for level
crossings with NumPy) and builds the exact ``Decimal`` quote only where a decision is made.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np

from coinpilot.domain.market import Candles
from coinpilot.exchange.simulated import quantize

__all__ = ["ReplayQuotes"]


class ReplayQuotes:
    """The replayed market's quote at each tick, as floats (for scanning) and exact on demand."""

    def __init__(
        self,
        c: Candles,
        times: np.ndarray,
        spread_bps: Decimal,
        tick: Decimal,
        counts: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``counts``: how many candles start before each time and how many at or before it,
        if already known (otherwise searched)."""
        if counts is None:
            counts = (
                np.searchsorted(c.start, times, side="left"),
                np.searchsorted(c.start, times, side="right"),
            )
        before, at_or_before = counts
        # Mid at the open of the candle starting at T, else (a gap, after the data) the close of
        # the last candle before T.
        self.raw = c.open.take(np.maximum(at_or_before - 1, 0))
        outside = np.flatnonzero(at_or_before == before)  # no candle starts at T
        self.raw[outside] = c.close.take(np.maximum(before.take(outside) - 1, 0))
        self.half = spread_bps / Decimal(20000)
        self.tick = tick
        half_f = float(self.half)
        self.bid_f = self.raw * (1.0 - half_f)
        self.ask_f = self.raw * (1.0 + half_f)
        self.slack = 2.0 * float(tick)

    def exact(self, k: int) -> tuple[Decimal, Decimal]:
        """(bid, ask) exactly as ``ReplayMarketData.get_best_bid_ask`` prices tick ``k``."""
        return self.of_raw(float(self.raw[k]))

    def of_raw(self, raw: float) -> tuple[Decimal, Decimal]:
        inc = self.tick
        mid = quantize(Decimal(str(raw)), inc, ROUND_HALF_EVEN)
        bid = quantize(mid * (1 - self.half), inc, ROUND_FLOOR)
        ask = quantize(mid * (1 + self.half), inc, ROUND_CEILING)
        if self.half and ask <= bid:
            ask = bid + inc
        return bid, ask
