"""The vectorised score series equals the live per-window function, tick for tick.

Live scores each evaluation with :func:`coinpilot.domain.signals.evaluate` on the window it
fetched; the backtest scores every tick at once. Everything a decision compares (action,
sufficiency, temperature level, the graded size of an entry) must be identical, and the score
itself equal to float noise (and exactly equal wherever it is near a comparison).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from coinpilot.backtest.data import shipped_candles
from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.signal_blocks import Indicators, aggregate
from coinpilot.backtest.signals import (
    ACTION_BUY,
    ACTION_SELL,
    covering_candles,
    exact_evaluation,
    grid_windows,
    score_series,
    tick_windows,
    window_candles,
)
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.signals import SIGNAL_NAMES, return_volatility
from coinpilot.domain.signals import _aggregate as live_aggregate
from coinpilot.domain.strategy import sizing_temperature
from coinpilot.domain.temperature import temperature
from coinpilot.domain.types import Action, Granularity

H = 3600
CONFIGS = {
    "default": ({}, 0.3, 0.3),
    "ema_crossover": ({"ma_crossover": {"ma_type": "ema", "fast_period": 8, "slow_period": 40}}, 0.2, 0.25),
    "rsi_only": (
        {"rsi": {"weight": 1.0, "period": 7}, "ma_crossover": {"enabled": False}, "macd": {"enabled": False}},
        0.5,
        0.5,
    ),
    "partial_data": (
        {
            "macd": {"slow_period": 60, "fast_period": 20, "weight": 0.5},
            "rsi": {"weight": 0.25},
            "ma_crossover": {"weight": 0.25},
            "min_data_weight": 0.5,
        },
        0.15,
        0.2,
    ),
}
ACTIONS = {ACTION_BUY: Action.BUY, ACTION_SELL: Action.SELL, 0: Action.HOLD}


@pytest.fixture(scope="module")
def btc() -> Candles:
    return shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_series_equals_the_live_function_on_shipped_hourly_data(btc: Candles, name: str) -> None:
    raw, buy, sell = CONFIGS[name]
    cfg = SignalConfig.from_dict(raw)
    # Every tick is scored (the full-length windows by sliding dot products over the series, the
    # short ones at the start and after gaps row by row); compared with live: the first ticks,
    # the ticks across the data's first two gaps, and every 40th tick of the rest.
    times = btc.start + H
    windows = tick_windows(btc.start, H, cfg, times)
    series = score_series(btc, windows, cfg, buy, sell)
    assert len(np.unique(windows.lengths)) > 10  # short windows at the start and at gaps
    assert (series.action == ACTION_BUY).any() and (series.action == ACTION_SELL).any()
    gaps = np.flatnonzero(np.diff(btc.start) > H)[:2]
    around = np.concatenate([np.arange(g - 5, g + 140) for g in gaps])
    checked = np.unique(np.r_[np.arange(250), around, np.arange(0, len(times), 40)])
    for k in checked.tolist():
        live = exact_evaluation(btc, int(windows.lo[k]), int(windows.hi[k]), cfg, buy, sell)
        score = float(series.score[k])
        assert bool(series.sufficient[k]) == live.sufficient, k
        assert ACTIONS[int(series.action[k])] is live.action, k
        assert abs(score - live.score) <= 1e-9, k
        assert temperature(score, buy, sell).level is temperature(live.score, buy, sell).level, k
        if live.action is Action.BUY:
            assert sizing_temperature(score, buy) is sizing_temperature(live.score, buy), k


def test_near_a_threshold_the_live_value_is_used(btc: Candles) -> None:
    cfg = SignalConfig()
    times = btc.start[200:3000] + H
    windows = tick_windows(btc.start, H, cfg, times)
    first = score_series(btc, windows, cfg, 0.3, 0.3)
    # Put a threshold exactly on a vectorised score: that tick must be recomputed and decided live.
    k = int(np.flatnonzero(first.score > 0.05)[10])
    threshold = float(first.score[k])
    again = score_series(btc, windows, cfg, threshold, 0.3)
    assert again.recomputed >= 1
    live = exact_evaluation(btc, int(windows.lo[k]), int(windows.hi[k]), cfg, threshold, 0.3)
    assert float(again.score[k]) == live.score
    assert ACTIONS[int(again.action[k])] is live.action


def test_a_flat_window_scores_exactly_zero() -> None:
    n = 400
    flat = Candles(
        "BTC-USD",
        Granularity.ONE_HOUR,
        H * np.arange(n, dtype=np.int64),
        *(np.full(n, 100.0) for _ in range(4)),
        np.ones(n),
    )
    cfg = SignalConfig()
    windows = tick_windows(flat.start, H, cfg, flat.start + H)
    series = score_series(flat, windows, cfg, 0.3, 0.3)
    assert np.all(series.score == 0.0)
    assert np.all(series.action == 0)


def _random_walk(n: int, seed: int = 7) -> Candles:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    start = 60 * np.arange(n, dtype=np.int64)
    return Candles("BTC-USD", Granularity.ONE_MINUTE, start, close, close, close, close, np.ones(n))


def test_the_volatility_over_a_long_series_stays_within_its_bound_of_live() -> None:
    # A running sum over the whole series carries the rounding of every earlier return into each
    # window (1e-8 relative after a million candles, where the bound said 1e-12): the series must
    # sum each window itself, and report a bound that holds.
    c = _random_walk(400_000)
    length, window = 126, 26
    count = len(c) - length + 1
    sigma, fragile, bound = Indicators(c.close, length, (0, count)).volatility(window)
    picked = np.r_[np.arange(count - 2000, count), np.arange(0, count, 997)]
    live = return_volatility(sliding_window_view(c.close, length)[picked], window)
    assert not fragile[picked].any()
    rel = np.abs(sigma[picked] - live) / live
    assert np.all(rel <= bound[picked])
    assert np.all(bound[picked] < 1e-11)


def test_grid_windows_are_the_searched_windows_and_quote_candles() -> None:
    btc = shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly")
    cfg = SignalConfig()
    # From before the data (no candle yet) across its gaps to the last candle.
    t0 = int(btc.start[0]) - 5 * H
    count = (int(btc.start[-1]) - t0) // H + 1
    windows, at_or_before = grid_windows(btc.start, H, cfg, t0, count)
    searched = tick_windows(btc.start, H, cfg, windows.times)
    assert np.array_equal(windows.times, t0 + H * np.arange(count))
    assert np.array_equal(windows.lo, searched.lo)
    assert np.array_equal(windows.hi, searched.hi)
    assert np.array_equal(at_or_before, np.searchsorted(btc.start, windows.times, side="right"))
    # The replayed mid of each tick: the open of the candle starting then, else the last close.
    counted = ReplayQuotes(btc, windows.times, Decimal(10), Decimal("0.01"), (windows.hi, at_or_before))
    starts = {int(t): i for i, t in enumerate(btc.start.tolist())}
    for k, t in enumerate(windows.times.tolist()):
        i = starts.get(t)
        before = max(int(np.searchsorted(btc.start, t)) - 1, 0)
        assert counted.raw[k] == (btc.open[i] if i is not None else btc.close[before]), k
    assert np.array_equal(counted.raw, ReplayQuotes(btc, windows.times, Decimal(10), Decimal("0.01")).raw)
    with pytest.raises(ValueError, match="grid"):
        grid_windows(btc.start, H, cfg, t0 + 1, count)


@pytest.mark.parametrize(("share", "expected"), [(1.0, 34), (0.5, 31), (0.3, 15)])
def test_windows_too_short_to_cover_are_insufficient_live(btc: Candles, share: float, expected: int) -> None:
    # Defaults: RSI 14 (15 candles, weight 0.4), SMA 10/30 (31, 0.3), MACD 12/26/9 (34, 0.3).
    cfg = SignalConfig.from_dict({"min_data_weight": share})
    assert covering_candles(cfg) == expected
    short = exact_evaluation(btc, 0, expected - 1, cfg, 0.3, 0.3)
    assert not short.sufficient and short.score == 0.0
    assert exact_evaluation(btc, 0, expected, cfg, 0.3, 0.3).sufficient
    # The series does not score those windows again: from the start of the data, only ticks
    # whose windows are long enough may be rescored.
    times = btc.start[: expected + 5] + H
    series = score_series(btc, tick_windows(btc.start, H, cfg, times), cfg, 0.3, 0.3)
    assert not series.sufficient[: expected - 1].any()
    assert series.recomputed <= 6


@pytest.mark.parametrize("all_usable", [True, False])
def test_aggregate_is_the_live_aggregate_row_by_row(btc: Candles, all_usable: bool) -> None:
    rng = np.random.default_rng(3)
    rows = 300
    for share, enabled in ((1.0, ("rsi", "ma_crossover", "macd")), (0.5, ("rsi", "macd")), (0.3, ("macd",))):
        cfg = SignalConfig.from_dict({"min_data_weight": share})
        raw = {
            name: (rng.uniform(-1.5, 1.5, rows), rng.random(rows) > (0.0 if all_usable else 0.3))
            for name in enabled
        }
        score, covered = aggregate(rows, cfg, raw)
        window = window_candles(btc, 0, 50)
        for k in range(rows):
            live_raw = {n: None for n in SIGNAL_NAMES}
            for name, (s, ok) in raw.items():
                live_raw[name] = (0.0, float(s[k]), {}) if ok[k] else None
            live = live_aggregate(window, cfg, 0.3, 0.3, live_raw)
            assert bool(covered[k]) == live.sufficient, (share, k)
            assert float(score[k]) == live.score, (share, k)
