"""The plain reference strategy for ``bench/backtest.py``: NumPy indicators, a pure-Python loop.

The same three-signal strategy as a Coinpilot bot's default scoring (RSI, moving-average
crossover and MACD, each mapped to [-1, +1] exactly as :mod:`coinpilot.domain.signals` does, and
weighted), long only, one fixed stake, buy when the score reaches the buy threshold and sell
everything when it falls to minus the sell threshold, filled at the next candle's open with the
fee — and none of the kernel's safety rules, confirmation, cooldown, tranches or exits. It is what
a person would write in an afternoon, and the speed the kernel is compared against.

Run by ``bench/backtest.py``; running this file alone prints one timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coinpilot.domain.indicators import sma
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.signals import MA_FULL_SCALE_SIGMAS, MACD_FULL_SCALE_SIGMAS, rsi_score, scaled_score


@dataclass(frozen=True)
class ReferenceResult:
    final_equity: float
    trades: int
    fees: float
    candles: int
    seconds: float


def _volatility(close: np.ndarray, window: int) -> np.ndarray:
    """Population std of the last ``window`` one-candle returns at each candle (NaN before)."""
    out = np.full(close.shape, np.nan)
    returns = close[1:] / close[:-1] - 1.0
    if returns.size >= window:
        out[window:] = sliding_window_view(returns, window).std(axis=-1)
    return out


def _smooth(x: np.ndarray, alpha: float, period: int, seed_end: int) -> np.ndarray:
    """TA-Lib-seeded exponential smoothing in a plain Python loop over floats (as the kernel's
    indicators define it; NumPy has no recurrence, and indexing arrays per step is slower)."""
    out = [float("nan")] * len(x)
    if seed_end >= len(x) or seed_end - period + 1 < 0:
        return np.asarray(out)
    values = x.tolist()
    prev = sum(values[seed_end - period + 1 : seed_end + 1]) / period
    out[seed_end] = prev
    keep = 1.0 - alpha
    for t in range(seed_end + 1, len(values)):
        prev = alpha * values[t] + keep * prev
        out[t] = prev
    return np.asarray(out)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    diff = np.diff(close)
    gain = _smooth(np.maximum(diff, 0.0), 1.0 / period, period, period - 1)
    loss = _smooth(np.maximum(-diff, 0.0), 1.0 / period, period, period - 1)
    total = gain + loss
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(total > 0, 100.0 * gain / total, 50.0)
    return np.r_[np.nan, np.where(np.isnan(total), np.nan, value)]


def macd_histogram(close: np.ndarray, fast: int, slow: int, signal: int) -> np.ndarray:
    start = slow - 1
    line = _smooth(close, 2.0 / (fast + 1), fast, start) - _smooth(close, 2.0 / (slow + 1), slow, start)
    sig = np.full(close.shape, np.nan)
    sig[start:] = _smooth(line[start:], 2.0 / (signal + 1), signal, signal - 1)
    return line - sig


def scores(candles: Candles, cfg: SignalConfig) -> np.ndarray:
    """The weighted score at every candle's close (NaN until every signal has data)."""
    close = candles.close
    total = np.zeros(close.shape)
    weight = 0.0
    if cfg.rsi.enabled:
        total += cfg.rsi.weight * rsi_score(rsi(close, cfg.rsi.period), cfg.rsi.oversold, cfg.rsi.overbought)
        weight += cfg.rsi.weight
    m = cfg.ma_crossover
    if m.enabled:
        fast, slow = sma(close, m.fast_period), sma(close, m.slow_period)
        spread = (fast - slow) / slow
        total += m.weight * scaled_score(spread, _volatility(close, m.slow_period), MA_FULL_SCALE_SIGMAS)
        weight += m.weight
    d = cfg.macd
    if d.enabled:
        hist = macd_histogram(close, d.fast_period, d.slow_period, d.signal_period)
        total += d.weight * scaled_score(
            hist / close, _volatility(close, d.slow_period), MACD_FULL_SCALE_SIGMAS
        )
        weight += d.weight
    return np.clip(total / weight, -1.0, 1.0)


def run_reference(
    candles: Candles,
    cfg: SignalConfig,
    *,
    buy_threshold: float = 0.3,
    sell_threshold: float = 0.3,
    stake: float = 100.0,
    fee_rate: float = 0.006,
    cash: float = 1000.0,
) -> ReferenceResult:
    started = time.perf_counter()
    score = scores(candles, cfg).tolist()
    opens = candles.open.tolist()
    size = 0.0
    trades = 0
    fees = 0.0
    n = len(opens)
    for i in range(n - 1):
        s = score[i]
        if s != s:  # NaN: not enough data yet
            continue
        if size == 0.0 and s >= buy_threshold and cash >= stake:
            price = opens[i + 1]
            fee = stake * fee_rate
            size = (stake - fee) / price
            cash -= stake
            fees += fee
            trades += 1
        elif size > 0.0 and s <= -sell_threshold:
            value = size * opens[i + 1]
            fee = value * fee_rate
            cash += value - fee
            fees += fee
            size = 0.0
            trades += 1
    final = cash + size * float(candles.close[-1])
    return ReferenceResult(final, trades, fees, n, time.perf_counter() - started)


if __name__ == "__main__":
    from coinpilot.backtest.data import shipped_candles
    from coinpilot.domain.types import Granularity

    c = shipped_candles("BTC-USD", Granularity.ONE_MINUTE)
    r = run_reference(c, SignalConfig.default())
    print(
        f"{r.candles} candles in {r.seconds:.3f} s = {r.candles / r.seconds:,.0f} candles/s, "
        f"{r.trades} trades"
    )
