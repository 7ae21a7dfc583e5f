"""Indicator values against TA-Lib and against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from coinpilot.domain import indicators as ind


def random_walk(n: int, seed: int, start: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


PRICES = random_walk(400, seed=7)


def assert_matches_talib(ours: np.ndarray, theirs: np.ndarray) -> None:
    defined = ~np.isnan(theirs)
    assert np.array_equal(np.isnan(ours), ~defined), "NaN positions differ from TA-Lib"
    np.testing.assert_allclose(ours[defined][-100:], theirs[defined][-100:], rtol=1e-10, atol=1e-9)
    # Same seeding as TA-Lib, so the whole defined range agrees, not just the converged tail.
    np.testing.assert_allclose(ours[defined], theirs[defined], rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("period", [2, 9, 14, 30])
def test_rsi_matches_talib_wilder_rsi(period: int) -> None:
    assert_matches_talib(ind.rsi(PRICES, period), talib.RSI(PRICES, period))


@pytest.mark.parametrize("period", [2, 10, 26, 50])
def test_ema_matches_talib_ema(period: int) -> None:
    assert_matches_talib(ind.ema(PRICES, period), talib.EMA(PRICES, period))


@pytest.mark.parametrize("period", [2, 10, 30, 200])
def test_sma_matches_talib_sma(period: int) -> None:
    assert_matches_talib(ind.sma(PRICES, period), talib.SMA(PRICES, period))


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 4), (2, 3, 2)])
def test_macd_matches_talib_macd(fast: int, slow: int, signal: int) -> None:
    line, sig, hist = ind.macd(PRICES, fast, slow, signal)
    t_line, t_sig, t_hist = talib.MACD(PRICES, fast, slow, signal)
    assert_matches_talib(hist, t_hist)
    assert_matches_talib(sig, t_sig)
    defined = ~np.isnan(t_line)
    np.testing.assert_allclose(line[defined], t_line[defined], rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_last_equals_last_value_of_series(period: int) -> None:
    rows = np.stack([random_walk(300, seed=s) for s in range(5)])
    expected = [talib.RSI(row, period)[-1] for row in rows]
    np.testing.assert_allclose(ind.rsi_last(rows, period), expected, rtol=1e-10)


@pytest.mark.parametrize("period", [2, 10, 30])
def test_ema_last_equals_last_value_of_series(period: int) -> None:
    rows = np.stack([random_walk(300, seed=s) for s in range(5)])
    expected = [talib.EMA(row, period)[-1] for row in rows]
    np.testing.assert_allclose(ind.ema_last(rows, period), expected, rtol=1e-12)


def test_sma_last_equals_last_value_of_series() -> None:
    rows = np.stack([random_walk(300, seed=s) for s in range(5)])
    expected = [talib.SMA(row, 30)[-1] for row in rows]
    np.testing.assert_allclose(ind.sma_last(rows, 30), expected, rtol=1e-12)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd_last_equals_last_value_of_series(fast: int, slow: int, signal: int) -> None:
    rows = np.stack([random_walk(300, seed=s) for s in range(5)])
    got = ind.macd_last(rows, fast, slow, signal)
    for k, row in enumerate(rows):
        expected = talib.MACD(row, fast, slow, signal)
        for ours, theirs in zip(got, expected, strict=True):
            assert ours[k] == pytest.approx(theirs[-1], rel=1e-9, abs=1e-10)


def test_series_functions_process_each_row_of_a_2d_array_independently() -> None:
    rows = np.stack([random_walk(120, seed=s) for s in range(3)])
    together = ind.rsi(rows, 14)
    for k in range(3):
        np.testing.assert_allclose(together[k], ind.rsi(rows[k], 14), equal_nan=True)


def test_smooth_last_weights_sum_to_one() -> None:
    w = ind.smooth_last_weights(1 / 14, 14, 299)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w > 0).all()


# --------------------------------------------------------------------------- by hand
def test_sma_by_hand() -> None:
    out = ind.sma(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3)
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], [2.0, 3.0, 4.0])


def test_ema_by_hand_seeds_with_sma_then_smooths() -> None:
    # period 3: alpha = 0.5; seed = mean(2, 4, 6) = 4; then 4 + 0.5 * (8 - 4) = 6; 6 + 0.5*(0-6)=3
    out = ind.ema(np.array([2.0, 4.0, 6.0, 8.0, 0.0]), 3)
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], [4.0, 6.0, 3.0])


def test_rsi_by_hand_uses_wilder_smoothing() -> None:
    # changes: +2, -1, +3, -2; period 2.
    # seed after 2 changes: gain (2+0)/2 = 1, loss (0+1)/2 = 0.5 -> RSI = 100 * 1/1.5 = 66.67
    # next (+3): gain (1*1+3)/2 = 2, loss (0.5*1+0)/2 = 0.25 -> RSI = 100 * 2/2.25 = 88.89
    # next (-2): gain (2+0)/2 = 1, loss (0.25+2)/2 = 1.125 -> RSI = 100 * 1/2.125 = 47.06
    out = ind.rsi(np.array([10.0, 12.0, 11.0, 14.0, 12.0]), 2)
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], [200 / 3, 800 / 9, 100 / 2.125])


def test_rsi_is_100_when_prices_only_rise_and_0_when_they_only_fall() -> None:
    up = np.arange(1.0, 31.0)
    assert ind.rsi(up, 14)[-1] == 100.0
    assert ind.rsi(up[::-1].copy(), 14)[-1] == 0.0


def test_rsi_of_flat_prices_is_neutral_50_not_talibs_0() -> None:
    flat = np.full(30, 5.0)
    assert ind.rsi(flat, 14)[-1] == 50.0
    assert ind.rsi_last(flat[None, :], 14)[0] == 50.0


def test_macd_by_hand_on_a_short_series() -> None:
    # fast 2 (alpha 2/3), slow 3 (alpha 1/2), signal 2 (alpha 2/3); closes 1, 2, 3, 6
    # both EMAs seeded at index 2: fast = mean(2, 3) = 2.5, slow = mean(1, 2, 3) = 2 -> line 0.5
    # index 3: fast = 2.5 + 2/3*(6-2.5) = 29/6, slow = 2 + 0.5*(6-2) = 4 -> line 5/6
    # signal seeded at index 3 = mean(1/2, 5/6) = 2/3; histogram = 5/6 - 2/3 = 1/6
    line, sig, hist = ind.macd(np.array([1.0, 2.0, 3.0, 6.0]), 2, 3, 2)
    np.testing.assert_allclose(line[2:], [0.5, 5 / 6])
    assert np.isnan(sig[2]) and sig[3] == pytest.approx(2 / 3)
    assert hist[3] == pytest.approx(1 / 6)


def test_series_shorter_than_the_period_are_all_nan() -> None:
    short = np.array([1.0, 2.0, 3.0])
    assert np.isnan(ind.rsi(short, 14)).all()
    assert np.isnan(ind.ema(short, 5)).all()
    assert np.isnan(ind.sma(short, 5)).all()
    assert np.isnan(ind.macd(short, 2, 5, 2)[2]).all()


def test_macd_rejects_slow_not_above_fast() -> None:
    with pytest.raises(ValueError, match="slow"):
        ind.macd(PRICES, 12, 12, 9)


def test_min_lengths_match_the_first_defined_talib_value() -> None:
    assert ind.rsi_min_length(14) == int(np.argmax(~np.isnan(talib.RSI(PRICES, 14)))) + 1
    first_hist = int(np.argmax(~np.isnan(talib.MACD(PRICES, 12, 26, 9)[2])))
    assert ind.macd_min_length(26, 9) == first_hist + 1


def test_macd_last_on_long_input_uses_the_recursion_and_still_matches_talib() -> None:
    long = random_walk(ind.MACD_WEIGHTS_MAX_LENGTH + 200, seed=3)
    got = ind.macd_last(long[None, :], 12, 26, 9)
    expected = talib.MACD(long, 12, 26, 9)
    for ours, theirs in zip(got, expected, strict=True):
        assert ours[0] == pytest.approx(theirs[-1], rel=1e-9, abs=1e-10)
