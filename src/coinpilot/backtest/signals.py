"""The live engine's score at every tick of a series, computed with NumPy and made exact.

What live computes: at each evaluation time ``T`` the engine fetches the closed candles whose
start lies in ``[T - g * (required_candles + 2), T)`` and scores them with
:func:`coinpilot.domain.signals.evaluate`. Every indicator there is a fixed linear map of that
window (``indicators.*_last``), so the score at ``T`` depends only on the window. Here every
tick's window is a row of a sliding-window view over the closes (windows of equal length
together, so gaps and the start of the data, where live sees fewer candles, are handled the same
way), and the very same indicator functions score thousands of rows per call.

Why the result is then recomputed in places: matrix products over many rows may sum in another
order than the one-row product live uses, so a vectorised score can differ from live in its last
bits. That can only matter where a comparison is close: every tick whose score lies within
``EXACT_EPSILON`` of a threshold, a temperature boundary, the sizing boundary or zero is scored
again with the live per-window function (:func:`exact_evaluation`), and the driver uses the
live function for every evaluation an order is sized or recorded from. Flat windows stay exact:
no FFT, so zero gains and losses sum to exactly zero (RSI 50).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from coinpilot.domain.indicators import (
    MACD_WEIGHTS_MAX_LENGTH,
    _macd_last_weights,
    _rsi_from_averages,
    _smooth_last_weights,
    ema_last,
    macd_last,
    rsi_last,
    sma_last,
)
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import (
    SignalConfig,
    ma_min_candles,
    macd_min_candles,
    required_candles,
    rsi_min_candles,
)
from coinpilot.domain.signals import (
    COVERAGE_TOLERANCE,
    MA_FULL_SCALE_SIGMAS,
    MACD_FULL_SCALE_SIGMAS,
    SIGNAL_NAMES,
    Evaluation,
    evaluate,
    return_volatility,
    rsi_score,
    scaled_score,
)
from coinpilot.domain.strategy import STRONG_SIGNAL_RATIO
from coinpilot.domain.temperature import COOL_RATIO, WARM_RATIO

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Rows per matrix product: bounds the memory of a chunk (rows x window x 8 bytes).
CHUNK_ROWS = 16384
# Sliding dot products cost the whole series; row-by-row products cost the rows: the first pays
# off once a length's windows cover a quarter of the series.
SERIES_SHARE = 4
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


def _finite(*arrays: FloatArray) -> npt.NDArray[np.bool_]:
    ok = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a)
    return ok


Raw = dict[str, tuple[FloatArray, npt.NDArray[np.bool_]]]
# Relative float error of a window's dot product summed in another order (~L x 2^-53, generous).
_DOT_ERROR = 1e-12


class _Indicators:
    """The indicator values of many windows of one length, from either of two producers:

    - rows of a 2-D array of windows (the live ``*_last`` functions themselves), or
    - sliding dot products over the whole series (``np.correlate``: direct sums, no FFT).

    Both sum the same products in another order than live's one-row product, so each score also
    gets an error bound (``tol``) and a ``fragile`` mask (volatility so small that the bound is
    meaningless): those ticks are scored again with the live function.
    """

    def __init__(self, close: FloatArray, length: int, starts: IntArray | None) -> None:
        self.close, self.length, self.starts = close, length, starts
        self._sums: tuple[FloatArray, FloatArray] | None = None
        # Consecutive windows (no gap among them): plain slices instead of fancy indexing.
        self._run = starts is not None and len(starts) > 0 and int(starts[-1] - starts[0]) == len(starts) - 1

    def _take(self, full: FloatArray, offset: int) -> FloatArray:
        assert self.starts is not None
        if self._run:
            first = int(self.starts[0]) + offset
            return full[first : first + len(self.starts)]
        return np.asarray(full[self.starts + offset], dtype=np.float64)

    def _corr(self, x: FloatArray, w: FloatArray, offset: int = 0) -> FloatArray:
        """Dot product of ``w`` with the last ``len(w)`` values of each window of ``x``."""
        return self._take(np.correlate(x, w, mode="valid"), offset)

    def rsi(self, period: int) -> FloatArray:
        if self.starts is None:
            return rsi_last(self.close, period)
        diff = np.diff(self.close)
        w = _smooth_last_weights(1.0 / period, period, self.length - 1)
        gain = self._corr(np.maximum(diff, 0.0), w)
        loss = self._corr(np.maximum(-diff, 0.0), w)
        return _rsi_from_averages(gain, loss)

    def ema(self, period: int) -> FloatArray:
        if self.starts is None:
            return ema_last(self.close, period)
        return self._corr(self.close, _smooth_last_weights(2.0 / (period + 1), period, self.length))

    def sma(self, period: int) -> FloatArray:
        if self.starts is None:
            return sma_last(self.close, period)
        return self._corr(self.close, np.ones(period), self.length - period) / period

    def macd(self, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        if self.starts is None:
            return macd_last(self.close, fast, slow, signal)
        # Only the histogram reaches the score: one dot product with (line - signal) weights. The
        # line and signal are finite wherever the closes are (validated data), so they are
        # reported as the histogram's finiteness.
        w = _macd_last_weights(fast, slow, signal, self.length)
        hist = self._corr(self.close, np.ascontiguousarray(w[0] - w[1]))
        return hist, hist, hist

    def last_close(self) -> FloatArray:
        if self.starts is None:
            return np.asarray(self.close[..., -1], dtype=np.float64)
        return np.asarray(self.close[self.starts + self.length - 1], dtype=np.float64)

    def volatility(self, window: int) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Population std of the window's last ``window`` returns, and where it is fragile."""
        if self.starts is None:
            sigma = return_volatility(self.close, window)
            return sigma, sigma < 1e-7
        if self._sums is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = self.close[1:] / self.close[:-1] - 1.0
            # Window sums by cumulative sums (a window of zero returns sums to exactly zero: the
            # cumulative sum does not move across it).
            self._sums = (np.r_[0.0, np.cumsum(r)], np.r_[0.0, np.cumsum(r * r)])
        c1, c2 = self._sums
        first = self.length - 1 - window
        s1 = (self._take(c1, first + window) - self._take(c1, first)) / window
        s2 = (self._take(c2, first + window) - self._take(c2, first)) / window
        var = s2 - s1 * s1
        sigma = np.sqrt(np.maximum(var, 0.0))
        # Cancellation: far below the mean square the difference is rounding, not spread.
        fragile = (var <= 1e-6 * s2) | (sigma < 1e-7)
        return sigma, fragile


def _score_block(ind: _Indicators, cfg: SignalConfig) -> tuple[Raw, FloatArray, npt.NDArray[np.bool_]]:
    """Per enabled signal with enough candles: (score, usable); plus each row's score error
    bound and the rows too fragile to trust (scored again live)."""
    length = ind.length
    out: Raw = {}
    tol: FloatArray = np.zeros(0)
    fragile: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def widen(err: FloatArray, weak: npt.NDArray[np.bool_]) -> None:
        nonlocal tol, fragile
        tol = err if tol.size == 0 else np.maximum(tol, err)
        fragile = weak if fragile.size == 0 else (fragile | weak)

    r = cfg.rsi
    if r.enabled and length >= rsi_min_candles(r):
        value = ind.rsi(r.period)
        score = rsi_score(value, r.oversold, r.overbought)
        out["rsi"] = (score, _finite(value, score))
        widen(np.full(score.shape, 1e-11), np.zeros(score.shape, dtype=bool))
    m = cfg.ma_crossover
    if m.enabled and length >= ma_min_candles(m):
        if m.ma_type == "ema":
            fast, slow = ind.ema(m.fast_period), ind.ema(m.slow_period)
        else:
            fast, slow = ind.sma(m.fast_period), ind.sma(m.slow_period)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = (fast - slow) / slow
        sigma, weak = ind.volatility(m.slow_period)
        score = scaled_score(spread, sigma, MA_FULL_SCALE_SIGMAS)
        out["ma_crossover"] = (score, _finite(fast, slow, spread, sigma, score))
        with np.errstate(divide="ignore", invalid="ignore"):
            err = _DOT_ERROR * (1.0 + np.abs(spread)) / (MA_FULL_SCALE_SIGMAS * sigma)
        widen(np.where(np.isfinite(err), err, np.inf), weak)
    d = cfg.macd
    if d.enabled and length >= macd_min_candles(d):
        line, sig, hist = ind.macd(d.fast_period, d.slow_period, d.signal_period)
        last = ind.last_close()
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = hist / last
        sigma, weak = ind.volatility(d.slow_period)
        score = scaled_score(rel, sigma, MACD_FULL_SCALE_SIGMAS)
        out["macd"] = (score, _finite(line, sig, hist, rel, sigma, score))
        with np.errstate(divide="ignore", invalid="ignore"):
            err = _DOT_ERROR * 10.0 / (MACD_FULL_SCALE_SIGMAS * sigma)
        widen(np.where(np.isfinite(err), err, np.inf), weak)
    return out, tol, fragile


def _aggregate(
    rows: int,
    cfg: SignalConfig,
    raw: dict[str, tuple[FloatArray, npt.NDArray[np.bool_]]],
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """``signals._aggregate`` over arrays, the same float operations in the same order."""
    enabled_names = [n for n in SIGNAL_NAMES if getattr(cfg, n).enabled]
    usable = np.zeros(rows)
    enabled = 0.0
    for name in enabled_names:
        weight = getattr(cfg, name).weight
        enabled += weight
        if name in raw:
            usable = usable + np.where(raw[name][1], weight, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = usable / enabled if enabled > 0.0 else np.zeros(rows)
    covered = (usable > 0.0) & (coverage >= cfg.min_data_weight - COVERAGE_TOLERANCE)
    total = np.zeros(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in enabled_names:
            if name not in raw:
                continue
            score, ok = raw[name]
            weight = float(getattr(cfg, name).weight)
            effective = np.where(covered, weight / usable, 0.0)
            total = total + np.where(ok & (usable > 0.0), score * effective, 0.0)
    score_out = np.where(covered, np.minimum(1.0, np.maximum(-1.0, total)), 0.0)
    return score_out, covered


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
    rows: IntArray | None = None,
) -> ScoreSeries:
    """Scores of the ticks ``rows`` (default: all), exact against the live function."""
    idx = np.arange(len(windows.times), dtype=np.int64) if rows is None else rows
    n = len(windows.times)
    score = np.zeros(n)
    sufficient = np.zeros(n, dtype=bool)
    close = np.ascontiguousarray(c.close, dtype=np.float64)
    lengths = windows.lengths
    todo: list[int] = []
    tolerance = np.full(n, EXACT_EPSILON)
    # Ticks grouped by window length (one stable sort; nearly all share the full length).
    order = idx[np.argsort(lengths[idx], kind="stable")]
    sorted_lengths = lengths[order]
    cuts = np.flatnonzero(np.diff(sorted_lengths)) + 1
    groups = [
        (int(g_len[0]), grp)
        for grp, g_len in zip(np.split(order, cuts), np.split(sorted_lengths, cuts), strict=True)
        if len(grp)
    ]
    for length, group in groups:
        if length == 0:
            continue
        if length > MACD_WEIGHTS_MAX_LENGTH:
            todo.extend(int(t) for t in group)
            continue
        whole_series = len(group) * SERIES_SHARE >= len(close)
        if whole_series:  # most windows: sliding dot products over the series
            parts: Iterator[IntArray] = iter([group])
        else:
            parts = _chunks(group)
        view = sliding_window_view(close, length)
        for part in parts:
            if whole_series:
                ind = _Indicators(close, length, windows.lo[part])
            else:
                ind = _Indicators(view[windows.lo[part]], length, None)
            raw, tol, fragile = _score_block(ind, cfg)
            s, ok = _aggregate(len(part), cfg, raw)
            score[part] = s
            sufficient[part] = ok
            if tol.size:
                tolerance[part] = np.maximum(EXACT_EPSILON, tol)
                todo.extend(int(t) for t in part[fragile])
    # Distance of each score to the nearest boundary (sorted: one search, two neighbours).
    bounds = np.asarray(boundaries(buy_threshold, sell_threshold))
    at = np.searchsorted(bounds, score)
    above = np.abs(bounds[np.minimum(at, len(bounds) - 1)] - score)
    below = np.abs(score - bounds[np.maximum(at - 1, 0)])
    near = np.minimum(above, below) <= tolerance
    if rows is not None:
        keep = np.zeros(n, dtype=bool)
        keep[idx] = True
        near &= keep
    todo = sorted(set(todo) | {int(t) for t in np.flatnonzero(near)})
    for t in todo:
        ev = exact_evaluation(c, int(windows.lo[t]), int(windows.hi[t]), cfg, buy_threshold, sell_threshold)
        score[t] = ev.score
        sufficient[t] = ev.sufficient
    action = np.zeros(n, dtype=np.int8)
    action[sufficient & (score >= buy_threshold)] = ACTION_BUY
    action[sufficient & (score <= -sell_threshold)] = ACTION_SELL
    return ScoreSeries(score, action, sufficient, len(todo))
