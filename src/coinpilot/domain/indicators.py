"""Technical indicators on float64 price arrays (oldest first), computed with NumPy only.

Sign convention used by every score in Coinpilot: +1 = strong buy, -1 = strong sell, 0 = neutral.
This module computes indicator *values*; :mod:`coinpilot.domain.signals` maps them to scores.

Two ways to compute each indicator, which agree to floating-point rounding:

* Series functions (:func:`ema`, :func:`sma`, :func:`rsi`, :func:`macd`) return the whole history
  with NaN where the indicator is not yet defined. They work along the last axis, so a 2-D array
  ``(bots, candles)`` is processed in one pass per time step. They follow TA-Lib's seeding exactly:
  an EMA starts with the simple mean of its first ``period`` inputs; RSI seeds Wilder's averages
  with the mean of the first ``period`` gains/losses; MACD seeds the fast and the slow EMA at the
  same candle (``slow - 1``) and the signal EMA with the mean of the first ``signal`` MACD values.
* Last-value functions (``*_last``) give only the newest value as a dot product with a cached
  weight vector. Every smoothing here is linear in its input, so its final value is
  ``weights @ prices``; that makes evaluating 1,000 bots a handful of matrix-vector products
  instead of 300 Python steps per bot.

One deliberate difference from TA-Lib: when prices do not move at all (average gain and average
loss both 0) RSI is 50 (neutral), not TA-Lib's 0, which would read as "extremely oversold".
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MACD_WEIGHTS_MAX_LENGTH = 1024


# --------------------------------------------------------------------------- lookbacks
def ema_min_length(period: int) -> int:
    """Inputs needed before an EMA of ``period`` has its first value."""
    return period


def rsi_min_length(period: int) -> int:
    """Closes needed for the first RSI value: ``period`` price changes."""
    return period + 1


def macd_min_length(slow: int, signal: int) -> int:
    """Closes needed for the first MACD histogram value."""
    return slow + signal - 1


def _check_period(period: int, name: str = "period") -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")


# --------------------------------------------------------------------------- series
def _smooth(x: FloatArray, alpha: float, period: int, seed_end: int) -> FloatArray:
    """Exponential smoothing along the last axis, seeded TA-Lib's way.

    ``out[..., seed_end]`` is the mean of the ``period`` inputs ending at ``seed_end``; after
    that ``out[t] = out[t-1] + alpha * (x[t] - out[t-1])``. Earlier positions are NaN.
    """
    out = np.full(x.shape, np.nan, dtype=np.float64)
    n = x.shape[-1]
    if seed_end >= n or seed_end - period + 1 < 0:
        return out
    prev = x[..., seed_end - period + 1 : seed_end + 1].mean(axis=-1)
    out[..., seed_end] = prev
    keep = 1.0 - alpha
    for t in range(seed_end + 1, n):
        prev = alpha * x[..., t] + keep * prev
        out[..., t] = prev
    return out


def sma(x: FloatArray, period: int) -> FloatArray:
    """Simple moving average along the last axis; NaN for the first ``period - 1`` positions."""
    _check_period(period)
    arr = np.asarray(x, dtype=np.float64)
    out = np.full(arr.shape, np.nan, dtype=np.float64)
    n = arr.shape[-1]
    if n < period:
        return out
    csum = np.cumsum(arr, axis=-1)
    window = csum[..., period - 1 :].copy()
    window[..., 1:] -= csum[..., : n - period]
    out[..., period - 1 :] = window / period
    return out


def ema(x: FloatArray, period: int) -> FloatArray:
    """EMA with ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period`` inputs."""
    _check_period(period)
    arr = np.asarray(x, dtype=np.float64)
    return _smooth(arr, 2.0 / (period + 1), period, period - 1)


def _rsi_from_averages(avg_gain: FloatArray, avg_loss: FloatArray) -> FloatArray:
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 * avg_gain / total
    return np.where(total > 0.0, value, np.where(np.isnan(total), np.nan, 50.0))


def rsi(close: FloatArray, period: int = 14) -> FloatArray:
    """RSI with Wilder smoothing (``alpha = 1/period``), 0..100; NaN for the first ``period``."""
    _check_period(period)
    arr = np.asarray(close, dtype=np.float64)
    out = np.full(arr.shape, np.nan, dtype=np.float64)
    if arr.shape[-1] < rsi_min_length(period):
        return out
    diff = np.diff(arr, axis=-1)
    alpha = 1.0 / period
    avg_gain = _smooth(np.maximum(diff, 0.0), alpha, period, period - 1)
    avg_loss = _smooth(np.maximum(-diff, 0.0), alpha, period, period - 1)
    out[..., 1:] = _rsi_from_averages(avg_gain, avg_loss)
    return out


def macd(
    close: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram (``line - signal``), in price units.

    The line is defined from index ``slow - 1``; signal and histogram from ``slow + signal - 2``.
    """
    for value, name in ((fast, "fast"), (slow, "slow"), (signal, "signal")):
        _check_period(value, name)
    if slow <= fast:
        raise ValueError("slow period must be longer than fast period")
    arr = np.asarray(close, dtype=np.float64)
    start = slow - 1
    fast_ema = _smooth(arr, 2.0 / (fast + 1), fast, start)
    slow_ema = _smooth(arr, 2.0 / (slow + 1), slow, start)
    line = fast_ema - slow_ema
    sig = np.full(arr.shape, np.nan, dtype=np.float64)
    if arr.shape[-1] >= macd_min_length(slow, signal):
        sig[..., start:] = _smooth(line[..., start:], 2.0 / (signal + 1), signal, signal - 1)
    return line, sig, line - sig


# --------------------------------------------------------------------------- last values
def smooth_last_weights(alpha: float, period: int, length: int) -> FloatArray:
    """Weights ``w``: ``w @ x == _smooth(x, alpha, period, period - 1)[-1]`` for ``length`` inputs.

    The seed (mean of the first ``period`` inputs) decays by ``(1 - alpha)`` per later input;
    input ``t >= period`` enters with ``alpha * (1 - alpha) ** (length - 1 - t)``.
    """
    if length < period:
        raise ValueError(f"need at least {period} inputs, got {length}")
    return _smooth_last_weights(float(alpha), int(period), int(length)).copy()


@lru_cache(maxsize=512)
def _smooth_last_weights(alpha: float, period: int, length: int) -> FloatArray:
    keep = 1.0 - alpha
    w = np.empty(length, dtype=np.float64)
    w[:period] = keep ** (length - period) / period
    ages = np.arange(length - 1 - period, -1, -1, dtype=np.float64)  # for t = period..length-1
    w[period:] = alpha * np.power(keep, ages)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=512)
def _macd_last_weights(fast: int, slow: int, signal: int, length: int) -> FloatArray:
    """Rows: weights of the newest MACD line and signal value (histogram = row 0 - row 1).

    Found by running the series implementation on the identity matrix: every step of MACD is
    linear in the closes, so the response to unit input ``k`` is the weight of close ``k``.
    """
    line, sig, _ = macd(np.eye(length, dtype=np.float64), fast, slow, signal)
    w = np.ascontiguousarray(np.stack([line[:, -1], sig[:, -1]]))
    w.setflags(write=False)
    return w


def sma_last(close: FloatArray, period: int) -> FloatArray:
    """Newest SMA of each row of a 2-D array ``(rows, candles)`` (needs ``candles >= period``)."""
    return np.asarray(close[..., -period:].mean(axis=-1), dtype=np.float64)


def ema_last(close: FloatArray, period: int) -> FloatArray:
    """Newest TA-Lib-seeded EMA of each row (needs ``candles >= period``)."""
    w = _smooth_last_weights(2.0 / (period + 1), period, close.shape[-1])
    return np.asarray(close @ w, dtype=np.float64)


def rsi_last(close: FloatArray, period: int) -> FloatArray:
    """Newest Wilder RSI of each row (needs ``candles >= period + 1``)."""
    diff = np.diff(close, axis=-1)
    w = _smooth_last_weights(1.0 / period, period, diff.shape[-1])
    avg_gain = np.asarray(np.maximum(diff, 0.0) @ w, dtype=np.float64)
    avg_loss = np.asarray(np.maximum(-diff, 0.0) @ w, dtype=np.float64)
    return _rsi_from_averages(avg_gain, avg_loss)


def macd_last(
    close: FloatArray, fast: int, slow: int, signal: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Newest MACD line, signal and histogram of each row (needs ``slow + signal - 1`` candles).

    Beyond ``MACD_WEIGHTS_MAX_LENGTH`` candles the weight matrix would cost O(n²) memory to
    build, so long inputs run the series recursion instead (same result, slower).
    """
    if close.shape[-1] > MACD_WEIGHTS_MAX_LENGTH:
        line_s, sig_s, hist_s = macd(close, fast, slow, signal)
        return line_s[..., -1], sig_s[..., -1], hist_s[..., -1]
    w = _macd_last_weights(fast, slow, signal, close.shape[-1])
    both = close @ w.T
    line = np.asarray(both[..., 0], dtype=np.float64)
    sig = np.asarray(both[..., 1], dtype=np.float64)
    return line, sig, line - sig


def convergence_length(alpha: float, tolerance: float = 1e-3) -> int:
    """Inputs after which a seed's influence on an exponential average falls below ``tolerance``."""
    if not 0.0 < alpha < 1.0:
        return 0
    return math.ceil(math.log(tolerance) / math.log(1.0 - alpha))
