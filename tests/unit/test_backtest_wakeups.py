"""The wake-up search's shortcuts agree with the per-tick definitions they replace."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.wakeups import WakeUps
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Granularity


def _wakeups(seed: int, required: float) -> WakeUps:
    rng = np.random.default_rng(seed)
    n = 400
    # Minute ticks with a few gaps, actions in runs of random length.
    times = np.cumsum(np.where(rng.random(n) < 0.05, 180, 60)).astype(np.int64) + 1_700_000_000
    action = np.repeat(rng.integers(-1, 2, size=n), rng.integers(1, 6, size=n))[:n].astype(np.int8)
    price = 100.0 + np.cumsum(rng.normal(0, 0.1, size=n))
    c = Candles("BTC-USD", Granularity.ONE_MINUTE, times, price, price, price, price, np.ones(n))
    quotes = ReplayQuotes(c, times, Decimal(10), Decimal("0.01"))
    return WakeUps(times, action, required, quotes, StrategyConfig.from_dict({}), SafetyLimits())


def test_early_span_is_the_early_ticks() -> None:
    for seed in range(20):
        for required in (0.0, 60.0, 90.5, 300.0):
            w = _wakeups(seed, required)
            ticks = np.arange(len(w.times), dtype=np.int64)
            for restart in (None, *range(0, len(w.times), 7)):
                lo, hi = w._early_span(restart)
                span = np.zeros(len(ticks), dtype=bool)
                span[lo:hi] = True
                assert np.array_equal(span, w.early(ticks, restart)), (seed, required, restart)


def test_next_flat_is_the_first_confirmed_buy_not_early() -> None:
    for seed in range(20):
        w = _wakeups(seed, 120.0)
        n = len(w.times)
        for restart in (None, *range(0, n, 11)):
            for k in range(0, n, 5):
                ticks = np.arange(k, n, dtype=np.int64)
                ok = w.confirmed_buy[k:] & ~w.early(ticks, restart)
                want = k + int(np.argmax(ok)) if ok.any() else n
                assert w.next_flat(k, restart) == want, (seed, restart, k)


def test_runs_and_confirmations_are_their_per_tick_definitions() -> None:
    for seed in range(20):
        for required in (0.0, 60.0, 90.5, 300.0):
            w = _wakeups(seed, required)
            times, action = w.times, _actions(seed)
            # Each tick's run starts where the action last changed; a BUY/SELL is confirmed once
            # its run has lasted the confirmation time.
            run_start = np.zeros(len(times), dtype=np.int64)
            for k in range(1, len(times)):
                run_start[k] = run_start[k - 1] if action[k] == action[k - 1] else k
            lasted = np.array([times[k] - times[run_start[k]] >= required for k in range(len(times))])
            confirmed = (action != 0) & lasted
            assert np.array_equal(w.run_start, run_start), (seed, required)
            assert np.array_equal(w.confirmed, confirmed), (seed, required)
            assert np.array_equal(w.confirmed_buy, confirmed & (action == 1))
            assert np.array_equal(w.confirmed_sell, confirmed & (action == -1))
            assert w._buy_list == np.flatnonzero(confirmed & (action == 1)).tolist()


def _actions(seed: int) -> np.ndarray:
    """The actions :func:`_wakeups` draws for ``seed`` (the same draws in the same order)."""
    rng = np.random.default_rng(seed)
    n = 400
    rng.random(n)
    return np.repeat(rng.integers(-1, 2, size=n), rng.integers(1, 6, size=n))[:n].astype(np.int8)
