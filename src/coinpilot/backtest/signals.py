"""The live engine's score at every tick of a series, computed with NumPy and made exact.

What live computes: at each evaluation time ``T`` the engine fetches the closed candles whose
start lies in ``[T - g * (required_candles + 2), T)`` and scores them with
:func:`coinpilot.domain.signals.evaluate`. Every indicator there is a fixed linear map of that
window (``indicators.*_last``), so the score at ``T`` depends only on the window. Here the ticks
with a full window (nearly all) are scored a stretch of the series at a time by sliding dot
products and sums; the others (the start of the data, gaps: live sees fewer candles there) by
window length, as rows of a sliding-window view scored by the very same indicator functions
(:mod:`coinpilot.backtest.signal_blocks` holds both producers). Windows too short for the
enabled signals to cover ``min_data_weight`` score exactly 0, insufficient, as live: a test of
the length alone (:func:`covering_candles`).

Why the result is then recomputed in places: the series sums the same products in another order
than the one-row product live uses, so a vectorised score can differ from live in its last bits.
That can only matter where a comparison is close: every tick whose score lies within its error
bound (at least ``EXACT_EPSILON``) of a threshold, a temperature boundary, the sizing boundary or
zero, or whose volatility is too small for a bound, is scored again with the live per-window
function (:func:`exact_evaluation`), and the driver uses the live function for every evaluation
an order is sized or recorded from. Flat windows stay exact: no FFT and no running sums, so zero
gains and losses sum to exactly zero (RSI 50).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coinpilot.backtest.signal_blocks import Indicators, aggregate, score_block
from coinpilot.domain.indicators import MACD_WEIGHTS_MAX_LENGTH
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import (
    SignalConfig,
    ma_min_candles,
    macd_min_candles,
    required_candles,
    rsi_min_candles,
)
from coinpilot.domain.signals import COVERAGE_TOLERANCE, SIGNAL_NAMES, Evaluation, evaluate
from coinpilot.domain.strategy import STRONG_SIGNAL_RATIO
from coinpilot.domain.temperature import COOL_RATIO, WARM_RATIO

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Rows per matrix product: bounds the memory of a chunk (rows x window x 8 bytes).
CHUNK_ROWS = 16384
# Sliding dot products cost the whole series; row-by-row products cost the rows: the first pays
# off once a length's windows cover a quarter of the series.
SERIES_SHARE = 4
# Ticks scored together over the series: temporaries of 128 KB (in cache), not of the series.
STRETCH_TICKS = 16384
# Far above the float error of a window's score (~1e-15), far below any meaningful difference.
EXACT_EPSILON = 1e-9

ACTION_HOLD, ACTION_BUY, ACTION_SELL = 0, 1, -1


@dataclass(frozen=True)
class TickWindows:
    """For each evaluation tick: its time and the candle index range ``[lo, hi)`` it scores."""

    times: IntArray  # Unix seconds of each tick (a candle boundary)
    lo: IntArray
    hi: IntArray

    @property
    def lengths(self) -> IntArray:
        return self.hi - self.lo


def tick_windows(
    starts: IntArray, granularity_seconds: int, cfg: SignalConfig, times: IntArray
) -> TickWindows:
    """The candle range live would score at each time in ``times`` (closed candles only)."""
    g = granularity_seconds
    need = required_candles(cfg)
    lo = np.searchsorted(starts, times - g * (need + 2), side="left").astype(np.int64)
    hi = np.searchsorted(starts, times - g, side="right").astype(np.int64)
    return TickWindows(times, lo, np.maximum(hi, lo))


def candles_before(starts: IntArray, granularity_seconds: int, base: int, slots: int) -> IntArray:
    """``out[j]``: how many candles start before ``base + j g``, for ``j`` in ``[0, slots]``.

    The candle starts lie on the grid of ``base`` (validated data: whole steps of ``g``), so one
    pass marks each candle's slot and a cumulative sum counts them: no binary search per time.
    """
    g = granularity_seconds
    if len(starts) and (int(starts[0]) - base) % g:
        raise ValueError("the candle starts are not on the grid of the ticks")
    a, b = np.searchsorted(starts, [base, base + slots * g])
    occupied = np.zeros(slots + 1, dtype=np.int64)
    occupied[0] = a
    occupied[(starts[a:b] - base) // g + 1] = 1
    return np.cumsum(occupied, out=occupied)


def grid_windows(
    starts: IntArray, granularity_seconds: int, cfg: SignalConfig, t0: int, count: int
) -> tuple[TickWindows, IntArray]:
    """:func:`tick_windows` of the ``count`` candle boundaries from ``t0`` (on the candles'
    grid), and for each of them the number of candles starting at or before it."""
    g = granularity_seconds
    need = required_candles(cfg) + 2
    before = candles_before(starts, g, t0 - g * need, count + need + 1)
    times = np.arange(t0, t0 + count * g, g, dtype=np.int64)
    # Live fetches [T - g need, T): from the first candle at or after T - g need (``before`` at
    # slot k) to the last one before T (``before`` at slot k + need).
    windows = TickWindows(times, before[:count], before[need : need + count])
    return windows, before[need + 1 : need + 1 + count]


@dataclass(frozen=True)
class ScoreSeries:
    """Score, action and sufficiency at every tick, equal to what live computes."""

    score: FloatArray
    action: npt.NDArray[np.int8]  # ACTION_BUY / ACTION_SELL / ACTION_HOLD
    sufficient: npt.NDArray[np.bool_]
    recomputed: int  # ticks scored again with the live function (near a boundary)


def _chunks(rows: IntArray) -> Iterator[IntArray]:
    for i in range(0, len(rows), CHUNK_ROWS):
        yield rows[i : i + CHUNK_ROWS]


def boundaries(buy_threshold: float, sell_threshold: float) -> tuple[float, ...]:
    """Every score a decision compares against: thresholds, temperature levels, sizing, zero."""
    strong = min(STRONG_SIGNAL_RATIO * buy_threshold, (buy_threshold + 1.0) / 2.0) - 1e-9
    out = {0.0, buy_threshold, -sell_threshold, strong}
    for ratio in (WARM_RATIO, COOL_RATIO):
        out.add(ratio * buy_threshold)
        out.add(-ratio * sell_threshold)
        out.add(ratio * min(buy_threshold, sell_threshold))
        out.add(-ratio * min(buy_threshold, sell_threshold))
    return tuple(sorted(out))


def covering_candles(cfg: SignalConfig) -> int:
    """The shortest window live can score as sufficient: below it the enabled signals with
    enough candles carry too little weight, so live scores exactly 0, insufficient (a test of
    the length alone: the signals' values are finite on validated data, and fewer usable
    signals never cover more). The same sums in the same order as ``signals._aggregate``."""
    mins = {
        "rsi": rsi_min_candles(cfg.rsi),
        "ma_crossover": ma_min_candles(cfg.ma_crossover),
        "macd": macd_min_candles(cfg.macd),
    }
    names = [n for n in SIGNAL_NAMES if getattr(cfg, n).enabled]
    enabled = sum(getattr(cfg, n).weight for n in names)
    for length in sorted({mins[n] for n in names}):
        usable = sum(getattr(cfg, n).weight for n in names if mins[n] <= length)
        coverage = usable / enabled if enabled > 0.0 else 0.0
        if usable > 0.0 and coverage >= cfg.min_data_weight - COVERAGE_TOLERANCE:
            return max(1, length)
    return np.iinfo(np.int64).max  # no window is ever sufficient


def window_candles(c: Candles, lo: int, hi: int) -> Candles:
    return Candles(
        c.pair,
        c.granularity,
        c.start[lo:hi],
        c.open[lo:hi],
        c.high[lo:hi],
        c.low[lo:hi],
        c.close[lo:hi],
        c.volume[lo:hi],
    )


def exact_evaluation(
    c: Candles, lo: int, hi: int, cfg: SignalConfig, buy_threshold: float, sell_threshold: float
) -> Evaluation:
    """The live function on one tick's window: the reference every series value must equal."""
    return evaluate(window_candles(c, lo, hi), cfg, buy_threshold, sell_threshold)


def score_series(
    c: Candles,
    windows: TickWindows,
    cfg: SignalConfig,
    buy_threshold: float,
    sell_threshold: float,
) -> ScoreSeries:
    """Scores of every tick of ``windows`` (ticks in time order), exact against the live function.

    The windows of full length (nearly all ticks) are scored over the stretch of the series
    they cover and picked per tick; the others (the start of the data, gaps) by length, row by
    row; windows too short to be sufficient are not scored at all (live: exactly 0). Then every
    tick near a boundary or fragile is scored again with the live function.
    """
    n = len(windows.times)
    close = np.ascontiguousarray(c.close, dtype=np.float64)
    covering = covering_candles(cfg)
    bounds = np.asarray(boundaries(buy_threshold, sell_threshold))
    full = required_candles(cfg) + 2  # the longest window: every candle of live's fetch
    in_series, rest = _full_windows(windows, full)
    if covering <= full <= MACD_WEIGHTS_MAX_LENGTH and in_series * SERIES_SHARE >= len(close):
        score, sufficient, todo = _score_stretch(close, full, windows, cfg, bounds)
    else:
        score, sufficient, todo = np.zeros(n), np.zeros(n, dtype=bool), []
        rest = np.arange(n)
    # The other ticks (few): too short to be sufficient (live: exactly 0, decided by the length
    # alone, never scored again), too long for the weight matrices (live's function), or scored
    # together, each window right-aligned in a row as long as the longest.
    lengths = windows.hi[rest] - windows.lo[rest]
    short = lengths < covering
    score[rest[short]], sufficient[rest[short]] = 0.0, False
    todo.append(rest[lengths > MACD_WEIGHTS_MAX_LENGTH])
    scored = ~short & (lengths <= MACD_WEIGHTS_MAX_LENGTH)
    rows_of, lengths_of = rest[scored], lengths[scored]
    for at in _chunks(np.arange(len(rows_of))):
        rows, row_lengths = rows_of[at], lengths_of[at]
        width = int(row_lengths.max())
        picks = windows.hi[rows][:, None] + np.arange(-width, 0)
        np.maximum(picks, 0, out=picks)  # before the data: any close (weighs nothing)
        ind = Indicators(close[picks], width, lengths=row_lengths)
        raw, tol, weak = score_block(ind, cfg)
        s, ok = aggregate(len(rows), cfg, raw)
        score[rows], sufficient[rows] = s, ok
        todo.append(rows[_again(s, tol, weak, bounds)])
    again = np.unique(np.concatenate(todo)).tolist() if todo else []
    for t in again:
        ev = exact_evaluation(c, int(windows.lo[t]), int(windows.hi[t]), cfg, buy_threshold, sell_threshold)
        score[t] = ev.score
        sufficient[t] = ev.sufficient
    action = np.zeros(n, dtype=np.int8)
    action[sufficient & (score >= buy_threshold)] = ACTION_BUY
    action[sufficient & (score <= -sell_threshold)] = ACTION_SELL
    return ScoreSeries(score, action, sufficient, len(again))


def _again(
    score: FloatArray, tol: FloatArray, fragile: npt.NDArray[np.bool_], bounds: FloatArray
) -> npt.NDArray[np.bool_]:
    """The scores to compute again live: fragile, or within their error bound (at least
    ``EXACT_EPSILON``) of a boundary (sorted ``bounds``: one search, two neighbours)."""
    at = np.searchsorted(bounds, score)
    above = np.abs(bounds[np.minimum(at, len(bounds) - 1)] - score)
    below = np.abs(score - bounds[np.maximum(at - 1, 0)])
    distance = np.minimum(above, below, out=above)
    near = distance <= (np.maximum(tol, EXACT_EPSILON, out=tol) if tol.size else EXACT_EPSILON)
    if fragile.size:
        near |= fragile
    return near


def _full_windows(windows: TickWindows, full: int) -> tuple[int, IntArray]:
    """How many ticks have a window of ``full`` candles, and the ticks that have not (a pass
    of small pieces: no temporary the size of the series)."""
    count, rest = 0, []
    for k0 in range(0, len(windows.lo), STRETCH_TICKS):
        short = np.subtract(windows.hi[k0 : k0 + STRETCH_TICKS], windows.lo[k0 : k0 + STRETCH_TICKS])
        short = short != full
        count += len(short) - int(np.count_nonzero(short))
        rest.append(k0 + np.flatnonzero(short))
    return count, np.concatenate(rest) if rest else np.zeros(0, dtype=np.int64)


def _score_stretch(
    close: FloatArray,
    length: int,
    windows: TickWindows,
    cfg: SignalConfig,
    bounds: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.bool_], list[npt.NDArray[np.intp]]]:
    """(score, sufficient) of every tick, from the windows of ``length`` candles scored over the
    series, right only for the ticks with such a window (the caller overwrites the others); and
    those of these ticks to score again live.

    A stretch of ``STRETCH_TICKS`` ticks at a time: the window starts ``lo`` never decrease, so
    a run of ticks covers one stretch of the series, and every temporary array of the scoring
    stays small (in cache, and reused by the allocator instead of fresh pages from the system).
    """
    lo, hi = windows.lo, windows.hi
    n = len(lo)
    score, sufficient = np.empty(n), np.empty(n, dtype=bool)
    todo: list[npt.NDArray[np.intp]] = []
    last = len(close) - length  # the start of the last full window
    for k0 in range(0, n, STRETCH_TICKS):
        k1 = min(n, k0 + STRETCH_TICKS)
        first = min(int(lo[k0]), last)
        count = min(int(lo[k1 - 1]), last) - first + 1
        raw, tol, weak = score_block(Indicators(close, length, (first, count)), cfg)
        s, ok = aggregate(count, cfg, raw)
        again = _again(s, tol, weak, bounds)
        # Every tick picks its window's values (ticks without such a window pick any: overwritten).
        at = np.subtract(lo[k0:k1], first)
        np.clip(at, 0, count - 1, out=at)
        np.take(s, at, out=score[k0:k1])
        np.take(ok, at, out=sufficient[k0:k1])
        picked = again.take(at)
        picked &= np.subtract(hi[k0:k1], lo[k0:k1]) == length
        todo.append(k0 + np.flatnonzero(picked))
    return score, sufficient, todo
