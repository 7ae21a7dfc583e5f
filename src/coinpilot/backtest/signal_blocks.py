"""Scores of many windows of one length at once, with the float error bound of each.

The producers of :mod:`coinpilot.backtest.signals`' series: every indicator the live scoring uses
is a fixed linear map of its window, so the windows of one length are scored together, either as
rows of a 2-D array (the live ``*_last`` functions themselves) or as sliding dot products over a
stretch of the series (``np.correlate``: direct sums, no FFT, so zero gains and losses sum to
exactly zero). Both sum the same products in another order than live's one-row product; each
score therefore carries an error bound and a ``fragile`` mark (a volatility so small that the
bound means nothing), and the series scores such ticks again with the live function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from coinpilot.domain.indicators import (
    _macd_last_weights,
    _rsi_from_averages,
    _smooth_last_weights,
    macd_min_length,
    sma_last,
)
from coinpilot.domain.signal_config import SignalConfig, ma_min_candles, macd_min_candles, rsi_min_candles
from coinpilot.domain.signals import (
    COVERAGE_TOLERANCE,
    MA_FULL_SCALE_SIGMAS,
    MACD_FULL_SCALE_SIGMAS,
    SIGNAL_NAMES,
    return_volatility,
    rsi_score,
    scaled_score,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Raw = dict[str, tuple[FloatArray, BoolArray]]
# Relative float error of a window's dot product summed in another order (~L x 2^-53, generous).
_DOT_ERROR = 1e-12


def _finite(*arrays: FloatArray) -> BoolArray:
    ok = np.isfinite(arrays[0])
    for a in arrays[1:]:
        ok &= np.isfinite(a)
    return ok


class SlidingSums:
    """``sums[w]``: the sums of every ``w`` consecutive values of ``x`` (``len(x) - w + 1`` of
    them), each summed directly from its own ``w`` values, so its rounding is that of any order
    of ``w`` terms, as in a dot product (no running sum carries rounding in from elsewhere).

    By doubling: sums of 2, 4, 8, ... values, then each width from its binary digits; a handful
    of passes over the array instead of one dot product per value (``np.correlate``).
    """

    def __init__(self, x: FloatArray) -> None:
        self.powers = [x]  # powers[k]: sums of 2**k values

    def __getitem__(self, w: int) -> FloatArray:
        powers = self.powers
        while 2 ** len(powers) <= w:
            step = 2 ** (len(powers) - 1)
            powers.append(np.add(powers[-1][:-step], powers[-1][step:]))
        count = len(powers[0]) - w + 1
        total: FloatArray | None = None
        offset = 0
        for bit in range(w.bit_length() - 1, -1, -1):
            if w >> bit & 1:
                part = powers[bit][offset : offset + count]
                total = part.copy() if total is None else np.add(total, part, out=total)
                offset += 2**bit
        assert total is not None, "a width is at least 1"
        return total


class Indicators:
    """The indicator values of many windows of one length ``length``:

    - ``span is None``: ``close`` is a 2-D array, one window per row, of ``lengths`` candles
      (default: ``length``), each right-aligned in its row of ``length`` closes (the closes
      before it weigh nothing);
    - ``span = (first, count)``: ``close`` is the whole series and the windows are the ``count``
      consecutive ones starting at candle ``first`` (sliding dot products over that stretch).
    """

    def __init__(
        self,
        close: FloatArray,
        length: int,
        span: tuple[int, int] | None = None,
        lengths: IntArray | None = None,
    ) -> None:
        if span is None and lengths is None:  # rows of ``length`` candles each
            lengths = np.full(close.shape[0], length, dtype=np.int64)
        self.close, self.length, self.span, self.lengths = close, length, span, lengths
        self._sums: dict[str, SlidingSums] = {}

    def has(self, candles: int) -> bool | BoolArray:
        """Which windows have at least ``candles`` candles: all (True), none (False) or a mask."""
        if self.lengths is None or len(self.lengths) == 0:
            return self.length >= candles
        if int(self.lengths.min()) >= candles:
            return True
        mask = self.lengths >= candles
        return mask if mask.any() else False

    def _dot_rows(self, x: FloatArray, weights: Callable[[int], FloatArray], need: int) -> FloatArray:
        """Each row of ``x`` (right-aligned inputs: one fewer than the window for differences)
        dotted with the weights of its own number of inputs, zero on the left (no weights where
        fewer than ``need``: those rows are not used)."""
        assert self.lengths is not None
        width = x.shape[-1]
        inputs = self.lengths - (self.length - width)
        counts, which = np.unique(inputs, return_inverse=True)
        table = np.zeros((len(counts), width))
        for j, n in enumerate(counts.tolist()):
            if n >= need:
                table[j, width - n :] = weights(n)
        return np.asarray(np.einsum("ij,ij->i", x, table[which]), dtype=np.float64)

    def _close_sums(self) -> SlidingSums:
        """Sums of closes over the stretch (from the first window's start)."""
        if "close" not in self._sums:
            assert self.span is not None
            first, count = self.span
            self._sums["close"] = SlidingSums(self.close[first : first + count + self.length - 1])
        return self._sums["close"]

    def _return_sums(self) -> tuple[SlidingSums, SlidingSums]:
        """Sums of the one-candle returns and of their squares over the stretch."""
        if "returns" not in self._sums:
            assert self.span is not None
            first, count = self.span
            close = self.close[first : first + count + self.length - 1]
            r = np.divide(close[1:], close[:-1])
            r -= 1.0
            self._sums["returns"] = SlidingSums(r)
            self._sums["squares"] = SlidingSums(r * r)
        return self._sums["returns"], self._sums["squares"]

    def _take(self, full: FloatArray, offset: int) -> FloatArray:
        """The values of ``full`` at each window's start plus ``offset`` (a view)."""
        assert self.span is not None
        first, count = self.span
        return full[first + offset : first + offset + count]

    def _corr(self, x: FloatArray, w: FloatArray, offset: int = 0) -> FloatArray:
        """Dot product of ``w`` with the ``len(w)`` values of each window from ``offset`` on."""
        assert self.span is not None
        first, count = self.span
        stretch = x[first + offset : first + offset + count + len(w) - 1]
        return np.correlate(stretch, w, mode="valid")

    def rsi(self, period: int) -> FloatArray:
        if self.lengths is not None:
            diff = np.diff(self.close, axis=-1)
            alpha = 1.0 / period
            gain = self._dot_rows(
                np.maximum(diff, 0.0), lambda n: _smooth_last_weights(alpha, period, n), period
            )
            loss = self._dot_rows(
                np.maximum(-diff, 0.0), lambda n: _smooth_last_weights(alpha, period, n), period
            )
            return _rsi_from_averages(gain, loss)
        assert self.span is not None
        first, count = self.span
        diff = np.diff(self.close[first : first + count + self.length - 1])
        w = _smooth_last_weights(1.0 / period, period, self.length - 1)
        gain = np.correlate(np.maximum(diff, 0.0), w, mode="valid")
        np.negative(diff, out=diff)
        loss = np.correlate(np.maximum(diff, 0.0, out=diff), w, mode="valid")
        return _rsi_from_averages(gain, loss)

    def ema(self, period: int) -> FloatArray:
        if self.lengths is not None:
            alpha = 2.0 / (period + 1)
            return self._dot_rows(self.close, lambda n: _smooth_last_weights(alpha, period, n), period)
        return self._corr(self.close, _smooth_last_weights(2.0 / (period + 1), period, self.length))

    def sma(self, period: int) -> FloatArray:
        if self.span is None:
            return sma_last(self.close, period)
        count, at = self.span[1], self.length - period
        total = self._close_sums()[period][at : at + count]  # a fresh array: divided in place
        return np.divide(total, period, out=total)

    def macd_histogram(self, fast: int, slow: int, signal: int) -> FloatArray:
        """The histogram (the line and the signal are finite wherever the closes are: validated
        data; only the histogram reaches the score)."""
        if self.lengths is not None:
            return self._dot_rows(
                self.close,
                lambda n: (
                    _macd_last_weights(fast, slow, signal, n)[0]
                    - _macd_last_weights(fast, slow, signal, n)[1]
                ),
                macd_min_length(slow, signal),
            )
        w = _macd_last_weights(fast, slow, signal, self.length)
        return self._corr(self.close, np.ascontiguousarray(w[0] - w[1]))

    def last_close(self) -> FloatArray:
        if self.span is None:
            return np.asarray(self.close[..., -1], dtype=np.float64)
        return self._take(self.close, self.length - 1)

    def volatility(self, window: int) -> tuple[FloatArray, BoolArray, FloatArray]:
        """Population std of the window's last ``window`` returns, where it is fragile, and the
        bound of its relative error against live's ``np.std``.

        Over the series: sums of ``window`` returns and squared returns as direct sliding sums
        (a cumulative sum over a long series carries rounding of the whole prefix into every
        window: up to 1e-8 relative on a million candles, far outside any bound), then
        ``E[r^2] - E[r]^2``, whose rounding grows with ``E[r^2] / var``: the bound says so.
        """
        if self.span is None:
            sigma = return_volatility(self.close, window)
            return sigma, sigma < 1e-7, np.zeros(sigma.shape)
        count = self.span[1]
        sums, squares = self._return_sums()
        a = self.length - 1 - window
        s1 = sums[window][a : a + count]  # fresh arrays: divided in place
        s1 /= window
        s2 = squares[window][a : a + count]
        s2 /= window
        var = np.subtract(s2, s1 * s1, out=s1)
        # Cancellation: far below the mean square the difference is rounding, not spread.
        fragile = var <= 1e-6 * s2
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_err = np.divide(s2, var)
        rel_err *= _DOT_ERROR
        sigma = np.sqrt(np.maximum(var, 0.0, out=var), out=var)
        fragile |= sigma < 1e-7
        return sigma, fragile, rel_err


def score_block(ind: Indicators, cfg: SignalConfig) -> tuple[Raw, FloatArray, BoolArray]:
    """Per enabled signal with enough candles (in some row): (score, usable); plus each row's
    score error bound and the rows too fragile to trust (scored again live)."""
    out: Raw = {}
    tol: FloatArray = np.zeros(0)
    fragile: BoolArray = np.zeros(0, dtype=bool)

    def keep(name: str, score: FloatArray, ok: BoolArray, err: FloatArray, weak: BoolArray) -> None:
        """A signal's scores, with where they are usable, their error bound and fragility (rows
        without enough candles for it: unusable, as live's missing value, and no bound)."""
        nonlocal tol, fragile
        err[~np.isfinite(err)] = np.inf
        if has is not True:
            ok &= has
            err[~has] = 0.0
            weak &= has
        out[name] = (score, ok)
        tol = err if tol.size == 0 else np.maximum(tol, err, out=tol)
        fragile = weak if fragile.size == 0 else np.logical_or(fragile, weak, out=fragile)

    r = cfg.rsi
    if r.enabled and (has := ind.has(rsi_min_candles(r))) is not False:
        value = ind.rsi(r.period)
        score = rsi_score(value, r.oversold, r.overbought)
        keep("rsi", score, _finite(value, score), np.full(score.shape, 1e-11), np.zeros(score.shape, bool))
    m = cfg.ma_crossover
    if m.enabled and (has := ind.has(ma_min_candles(m))) is not False:
        if m.ma_type == "ema":
            fast, slow = ind.ema(m.fast_period), ind.ema(m.slow_period)
        else:
            fast, slow = ind.sma(m.fast_period), ind.sma(m.slow_period)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = (fast - slow) / slow
        sigma, weak, sigma_err = ind.volatility(m.slow_period)
        score = scaled_score(spread, sigma, MA_FULL_SCALE_SIGMAS)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.abs(spread)
            err += 1.0
            err *= _DOT_ERROR
            err /= MA_FULL_SCALE_SIGMAS * sigma
            err += np.abs(score) * sigma_err
        keep("ma_crossover", score, _finite(fast, slow, spread, sigma, score), err, weak)
    d = cfg.macd
    if d.enabled and (has := ind.has(macd_min_candles(d))) is not False:
        hist = ind.macd_histogram(d.fast_period, d.slow_period, d.signal_period)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = hist / ind.last_close()
        sigma, weak, sigma_err = ind.volatility(d.slow_period)
        score = scaled_score(rel, sigma, MACD_FULL_SCALE_SIGMAS)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.divide(_DOT_ERROR * 10.0 / MACD_FULL_SCALE_SIGMAS, sigma)
            err += np.abs(score) * sigma_err
        keep("macd", score, _finite(hist, rel, sigma, score), err, weak)
    return out, tol, fragile


def aggregate(rows: int, cfg: SignalConfig, raw: Raw) -> tuple[FloatArray, BoolArray]:
    """``signals._aggregate`` over arrays, the same float operations in the same order."""
    enabled_names = [n for n in SIGNAL_NAMES if getattr(cfg, n).enabled]
    if all(ok.all() for _, ok in raw.values()):
        return _aggregate_all_usable(rows, cfg, enabled_names, raw)
    usable = np.zeros(rows)
    enabled = 0.0
    for name in enabled_names:
        weight = getattr(cfg, name).weight
        enabled += weight
        if name in raw:
            usable += np.where(raw[name][1], weight, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = usable / enabled if enabled > 0.0 else np.zeros(rows)
    covered = np.greater_equal(coverage, cfg.min_data_weight - COVERAGE_TOLERANCE)
    some = usable > 0.0
    covered &= some
    total = np.zeros(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in enabled_names:
            if name not in raw:
                continue
            score, ok = raw[name]
            weight = float(getattr(cfg, name).weight)
            effective = np.divide(weight, usable)
            effective[~covered] = 0.0
            effective *= score
            total += np.where(ok & some, effective, 0.0)
    np.maximum(total, -1.0, out=total)
    np.minimum(total, 1.0, out=total)
    total[~covered] = 0.0
    return total, covered


def _aggregate_all_usable(
    rows: int, cfg: SignalConfig, enabled_names: list[str], raw: Raw
) -> tuple[FloatArray, BoolArray]:
    """:func:`aggregate` where every signal with enough candles is usable in every row (the
    usual case): the usable weight, the coverage and each weight's share are then the same in
    every row, scalars computed as ``signals._aggregate`` computes them."""
    usable = 0.0
    enabled = 0.0
    for name in enabled_names:
        weight = getattr(cfg, name).weight
        enabled += weight
        if name in raw:
            usable += weight
    coverage = usable / enabled if enabled > 0.0 else 0.0
    if not (usable > 0.0 and coverage >= cfg.min_data_weight - COVERAGE_TOLERANCE):
        return np.zeros(rows), np.zeros(rows, dtype=bool)
    total = np.zeros(rows)
    for name in enabled_names:
        if name in raw:
            total += raw[name][0] * (float(getattr(cfg, name).weight) / usable)
    np.maximum(total, -1.0, out=total)
    np.minimum(total, 1.0, out=total)
    return total, np.ones(rows, dtype=bool)
