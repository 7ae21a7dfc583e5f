"""The optional cooling exit in the backtest: at which ticks live finds it due, with NumPy.

What live does (``engine.loop.due_bots._cooled``): at every tick, after storing that tick's
evaluation, it reads the bot's evaluations over the period ``(now - minutes, now]`` plus the last
one at or before ``now - minutes``, and asks :func:`coinpilot.domain.cooling.cooling_exit_due`:
due when there is such an earlier reading (the period is proven from its start) and every reading
from it to now is below the level (buy-side temperature, :func:`buy_side_temperature`).

Here live's evaluations are the backtest's ticks (live evaluates every tick, also inside gaps in
the data, where its window is shorter: the score series already holds those scores), so per tick
``k``: ``first`` = the last tick at or before ``times[k] - minutes``; due when ``first`` exists
and no tick from ``first`` to ``k`` is at or above the level. The buy-side level of every score
is found with the very float operations :func:`coinpilot.domain.temperature.temperature` makes
(one division, the same comparisons), and scores near a level's boundary are already exact in the
series (:func:`coinpilot.backtest.signals.boundaries`), so each tick's level equals live's.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt

from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.temperature import COOL_RATIO, WARM_RATIO, level_rank
from coinpilot.domain.types import TemperatureLevel

__all__ = ["buy_side_ranks", "cooled_ticks"]

_MICROSECONDS = 1_000_000


def buy_side_ranks(score: npt.NDArray[np.float64], buy_threshold: float) -> npt.NDArray[np.int8]:
    """``level_rank(buy_side_temperature(s, ...))`` of every score: FROZEN 0 unless the score
    leans to buy (above 0); then HOT 3 at the buy threshold, WARM 2 from 0.6 of it, COOL 1 from
    0.3 of it (the ratio ``score / buy_threshold``, as live divides). The sell threshold plays no
    part: a score leaning to sell is FROZEN for a buy."""
    score = np.asarray(score, dtype=np.float64)
    rank = np.zeros(score.shape, dtype=np.int8)
    leans = score > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = score / buy_threshold
    rank[leans & (ratio >= COOL_RATIO)] = level_rank(TemperatureLevel.COOL)
    rank[leans & (ratio >= WARM_RATIO)] = level_rank(TemperatureLevel.WARM)
    rank[leans & (score >= buy_threshold)] = level_rank(TemperatureLevel.HOT)
    return rank


def cooled_ticks(
    times: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    below: TemperatureLevel,
    minutes: float,
    buy_threshold: float,
) -> npt.NDArray[np.bool_]:
    """For every tick (Unix seconds ``times``, increasing, each with its evaluation's ``score``),
    whether :func:`cooling_exit_due` holds there on the readings live would read."""
    n = len(times)
    if n == 0 or minutes <= 0:
        return np.zeros(n, dtype=bool)
    # Live's period start is ``now - timedelta(minutes=minutes)``: whole microseconds.
    period = timedelta(minutes=minutes) // timedelta(microseconds=1)
    at = np.asarray(times, dtype=np.int64) * _MICROSECONDS
    # The reading at or before the period's start (-1: none, the period is not proven).
    first = np.searchsorted(at, at - period, side="right") - 1
    cold = buy_side_ranks(score, buy_threshold) < level_rank(below)
    # The last tick at or before each tick whose reading is not below the level (-1: none).
    last_warm = np.maximum.accumulate(np.where(cold, -1, np.arange(n)))
    return np.asarray((first >= 0) & (last_warm < first), dtype=bool)


def strategy_cooled_ticks(
    times: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    strategy: StrategyConfig,
    buy_threshold: float,
) -> npt.NDArray[np.bool_] | None:
    """The ticks where the strategy's cooling exit is due, or None when it has none."""
    if strategy.cooling_exit_below is None:
        return None
    minutes = float(strategy.cooling_exit_minutes)  # as live reads it (engine.loop.due_bots)
    return cooled_ticks(times, score, strategy.cooling_exit_below, minutes, buy_threshold)
