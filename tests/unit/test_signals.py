"""Signal scores, weighted aggregation with insufficient data, and the action decision."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import (
    MacdConfig,
    MaCrossoverConfig,
    RsiConfig,
    SignalConfig,
    SignalConfigError,
)
from coinpilot.domain.signals import (
    MA_FULL_SCALE_SIGMAS,
    STATUS_INSUFFICIENT,
    STATUS_OK,
    decide_action,
    evaluate,
    evaluate_many,
    rsi_score,
    scaled_score,
)
from coinpilot.domain.types import Action, Granularity

T0 = 1_700_000_000


def candles(close: np.ndarray | list[float], pair: str = "BTC-USD") -> Candles:
    c = np.asarray(close, dtype=np.float64)
    start = T0 + 3600 * np.arange(len(c), dtype=np.int64)
    return Candles(pair, Granularity.ONE_HOUR, start, c, c, c, c, np.ones_like(c))


def walk(n: int, seed: int, start: float = 100.0, drift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(drift, 0.01, n)))


DEFAULT = SignalConfig.default()
RSI_ONLY = SignalConfig(RsiConfig(weight=1.0), MaCrossoverConfig(enabled=False), MacdConfig(enabled=False))


# --------------------------------------------------------------------------- scores
@pytest.mark.parametrize(
    ("rsi", "expected"),
    [(30.0, 1.0), (10.0, 1.0), (40.0, 0.5), (50.0, 0.0), (60.0, -0.5), (70.0, -1.0), (95.0, -1.0)],
)
def test_rsi_score_maps_oversold_to_plus_one_and_overbought_to_minus_one(rsi: float, expected: float) -> None:
    assert rsi_score(np.array([rsi]), 30.0, 70.0)[0] == pytest.approx(expected)


def test_rsi_score_uses_the_midpoint_of_asymmetric_levels() -> None:
    # levels 20/60: midpoint 40; 30 is halfway to oversold, 50 halfway to overbought
    np.testing.assert_allclose(rsi_score(np.array([30.0, 40.0, 50.0]), 20.0, 60.0), [0.5, 0, -0.5])


def test_scaled_score_is_zero_without_volatility_and_clamped_to_one() -> None:
    out = scaled_score(np.array([0.01, 0.5, -0.5]), np.array([0.0, 0.01, 0.01]), 4.0)
    np.testing.assert_allclose(out, [0.0, 1.0, -1.0])


def test_ma_crossover_by_hand() -> None:
    # SMA 2 vs 3 over closes 1, 1, 2, 4: fast 3, slow 7/3 -> spread 2/7
    # returns of the last 3 candles: 0, 1, 1 -> population std sqrt(2)/3
    cfg = SignalConfig(
        RsiConfig(enabled=False),
        MaCrossoverConfig(weight=1.0, fast_period=2, slow_period=3),
        MacdConfig(enabled=False),
    )
    ev = evaluate(candles([1.0, 1.0, 2.0, 4.0]), cfg, 0.5, 0.5)
    (ma,) = ev.signals
    assert ma.value == pytest.approx(2 / 7)
    expected = (2 / 7) / (MA_FULL_SCALE_SIGMAS * math.sqrt(2) / 3)
    assert ma.score == pytest.approx(expected)
    assert ev.score == pytest.approx(expected)


def test_falling_prices_give_rsi_a_buy_score_and_trend_signals_a_sell_score() -> None:
    ev = evaluate(candles(walk(300, seed=3, drift=-0.004)), DEFAULT, 0.5, 0.5)
    by_name = {s.name: s for s in ev.signals}
    assert by_name["rsi"].score is not None and by_name["rsi"].score > 0
    assert by_name["ma_crossover"].score is not None and by_name["ma_crossover"].score < 0
    assert by_name["macd"].score is not None and by_name["macd"].score < 0


@pytest.mark.parametrize("factor", [1e-5, 0.37, 1000.0, 12345.678])
def test_scaling_all_prices_leaves_every_score_unchanged(factor: float) -> None:
    close = walk(300, seed=11)
    base = evaluate(candles(close), DEFAULT, 0.5, 0.5)
    scaled = evaluate(candles(close * factor), DEFAULT, 0.5, 0.5)
    for a, b in zip(base.signals, scaled.signals, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
    assert scaled.score == pytest.approx(base.score, rel=1e-9, abs=1e-12)
    assert scaled.price == pytest.approx(base.price * factor)


# --------------------------------------------------------------------------- aggregation
def test_score_is_the_weighted_sum_of_signal_scores() -> None:
    ev = evaluate(candles(walk(300, seed=5)), DEFAULT, 0.5, 0.5)
    assert all(s.status == STATUS_OK for s in ev.signals)
    expected = sum((s.score or 0.0) * s.weight for s in ev.signals)
    assert ev.score == pytest.approx(expected)
    for s in ev.signals:
        assert s.effective_weight == pytest.approx(s.weight)
        assert s.contribution == pytest.approx((s.score or 0.0) * s.effective_weight)


def test_fifteen_candles_of_a_fall_give_no_buy_while_the_other_signals_lack_data() -> None:
    # Only RSI (needs 15) has data: 40% of the weight. By default every enabled signal must.
    close = np.linspace(100.0, 90.0, 15)
    ev = evaluate(candles(close), DEFAULT, 0.5, 0.5)
    by_name = {s.name: s for s in ev.signals}
    assert by_name["rsi"].status == STATUS_OK and by_name["rsi"].score == pytest.approx(1.0)
    assert (ev.score, ev.action, ev.sufficient) == (0.0, Action.HOLD, False)
    assert ev.coverage == pytest.approx(0.4)
    assert {s.name for s in ev.signals if s.status == STATUS_INSUFFICIENT} == {"ma_crossover", "macd"}
    assert all(s.effective_weight == 0.0 and s.contribution == 0.0 for s in ev.signals)
    # A bot that accepts 40% of its weight acts on RSI alone.
    lenient = evaluate(candles(close), replace(DEFAULT, min_data_weight=0.4), 0.5, 0.5)
    assert lenient.action is Action.BUY and lenient.sufficient


def test_the_data_share_must_be_above_zero_and_at_most_one() -> None:
    for bad in (0, 1.5, "all", float("nan")):
        with pytest.raises(SignalConfigError) as err:
            SignalConfig.from_dict({"min_data_weight": bad})
        assert [e.field for e in err.value.errors] == ["signal_config.min_data_weight"]
    assert SignalConfig.from_dict({"min_data_weight": 0.7}).to_dict()["min_data_weight"] == 0.7


def test_insufficient_signal_is_left_out_and_weights_renormalised() -> None:
    # 20 candles: RSI (needs 15) is ok; MA (needs 31) and MACD (needs 34) are not.
    ev = evaluate(candles(walk(20, seed=2)), replace(DEFAULT, min_data_weight=0.4), 0.5, 0.5)
    by_name = {s.name: s for s in ev.signals}
    rsi = by_name["rsi"]
    assert rsi.status == STATUS_OK and rsi.effective_weight == pytest.approx(1.0)
    for name in ("ma_crossover", "macd"):
        s = by_name[name]
        assert s.status == STATUS_INSUFFICIENT
        assert (s.value, s.score, s.effective_weight, s.contribution) == (None, None, 0.0, 0.0)
        assert s.weight == pytest.approx(0.3)
    # Not diluted by zeros: the score is RSI's own score.
    assert ev.score == pytest.approx(rsi.score)
    assert ev.sufficient


def test_partial_data_renormalises_over_the_remaining_two_signals() -> None:
    # 32 candles: RSI and MA are ok, MACD (34) is not -> weights 0.4/0.7 and 0.3/0.7.
    ev = evaluate(candles(walk(32, seed=9)), replace(DEFAULT, min_data_weight=0.7), 0.5, 0.5)
    by_name = {s.name: s for s in ev.signals}
    assert by_name["macd"].status == STATUS_INSUFFICIENT
    assert by_name["rsi"].effective_weight == pytest.approx(0.4 / 0.7)
    assert by_name["ma_crossover"].effective_weight == pytest.approx(0.3 / 0.7)
    expected = sum(s.contribution for s in ev.signals)
    assert ev.score == pytest.approx(expected)


def test_no_sufficient_signal_gives_score_zero_hold_and_not_sufficient() -> None:
    ev = evaluate(candles(walk(10, seed=1)), DEFAULT, 0.1, 0.1)
    assert (ev.score, ev.action, ev.sufficient) == (0.0, Action.HOLD, False)
    assert all(s.status == STATUS_INSUFFICIENT for s in ev.signals)


def test_empty_candles_are_insufficient_with_no_price_or_time() -> None:
    ev = evaluate(Candles.empty("BTC-USD", Granularity.ONE_HOUR), DEFAULT, 0.5, 0.5)
    assert not ev.sufficient and ev.price is None and ev.candle_time is None


def test_non_finite_prices_make_a_signal_insufficient_instead_of_scoring_nan() -> None:
    close = walk(300, seed=4)
    close[-5] = np.nan
    ev = evaluate(candles(close), DEFAULT, 0.5, 0.5)
    assert all(s.status == STATUS_INSUFFICIENT for s in ev.signals)
    assert ev.action is Action.HOLD and ev.score == 0.0


def test_disabled_signals_are_not_listed() -> None:
    ev = evaluate(candles(walk(300, seed=4)), RSI_ONLY, 0.5, 0.5)
    assert [s.name for s in ev.signals] == ["rsi"]


def test_evaluation_carries_last_price_and_candle_time() -> None:
    close = walk(50, seed=4)
    ev = evaluate(candles(close), DEFAULT, 0.5, 0.5)
    assert ev.price == close[-1]
    assert ev.candle_time == datetime.fromtimestamp(T0 + 3600 * 49, UTC)


def test_breakdown_is_json_able_with_every_field() -> None:
    ev = evaluate(candles(walk(30, seed=4)), DEFAULT, 0.5, 0.5)
    rows = json.loads(json.dumps(ev.breakdown()))
    assert [r["name"] for r in rows] == ["rsi", "ma_crossover", "macd"]
    assert set(rows[0]) == {
        "name",
        "status",
        "value",
        "score",
        "weight",
        "effective_weight",
        "contribution",
        "detail",
    }
    assert rows[1]["status"] == "insufficient_data" and rows[1]["score"] is None


# --------------------------------------------------------------------------- action
@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.5, Action.BUY),
        (0.49, Action.HOLD),
        (1.0, Action.BUY),
        (-0.4, Action.SELL),
        (-0.39, Action.HOLD),
        (0.0, Action.HOLD),
    ],
)
def test_decide_action_at_the_thresholds(score: float, expected: Action) -> None:
    assert decide_action(score, 0.5, 0.4) is expected


def test_decide_action_rejects_invalid_thresholds() -> None:
    with pytest.raises(SignalConfigError):
        decide_action(0.9, 0.0, 0.5)


def test_steady_fall_makes_rsi_only_bot_buy_and_steady_rise_sell() -> None:
    falling = np.linspace(200.0, 100.0, 60)
    assert evaluate(candles(falling), RSI_ONLY, 0.5, 0.5).action is Action.BUY
    assert evaluate(candles(falling[::-1].copy()), RSI_ONLY, 0.5, 0.5).action is Action.SELL


def test_action_follows_the_bots_own_thresholds() -> None:
    c = candles(walk(300, seed=5))
    score = evaluate(c, DEFAULT, 1.0, 1.0).score
    assert 0.0 < abs(score) < 0.99
    acting = Action.BUY if score > 0 else Action.SELL
    assert evaluate(c, DEFAULT, abs(score), abs(score)).action is acting
    assert evaluate(c, DEFAULT, abs(score) + 0.01, abs(score) + 0.01).action is Action.HOLD


def test_invalid_config_fails_closed() -> None:
    bad = SignalConfig(RsiConfig(period=1))
    with pytest.raises(SignalConfigError):
        evaluate(candles(walk(300, seed=1)), bad, 0.5, 0.5)


# --------------------------------------------------------------------------- batching
def test_evaluate_many_equals_evaluating_each_bot_alone() -> None:
    ema_cfg = SignalConfig(ma_crossover=MaCrossoverConfig(ma_type="ema"))
    items = [
        (candles(walk(300, seed=s, start=10.0 ** (s % 5))), cfg, 0.3, 0.4)
        for s in range(12)
        for cfg in (DEFAULT, ema_cfg, RSI_ONLY)
    ]
    items.append((candles(walk(25, seed=99)), DEFAULT, 0.5, 0.5))
    items.append((candles(walk(200, seed=98)), ema_cfg, 0.5, 0.5))
    together = evaluate_many(items)
    for item, ev in zip(items, together, strict=True):
        alone = evaluate(*item)
        assert ev.action is alone.action and ev.sufficient == alone.sufficient
        assert ev.score == pytest.approx(alone.score, rel=1e-12, abs=1e-12)
        for a, b in zip(ev.signals, alone.signals, strict=True):
            assert (a.name, a.status) == (b.name, b.status)
            if b.score is None:
                assert a.score is None
            else:
                assert a.score == pytest.approx(b.score, rel=1e-12, abs=1e-12)


def test_evaluate_many_of_nothing_is_empty() -> None:
    assert evaluate_many([]) == []


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 200),
    vol=st.floats(0.0, 0.2),
    buy=st.floats(0.01, 1.0),
    sell=st.floats(0.01, 1.0),
)
def test_any_price_path_gives_a_bounded_score_equal_to_the_sum_of_contributions(
    seed: int, n: int, vol: float, buy: float, sell: float
) -> None:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    ev = evaluate(candles(close), DEFAULT, buy, sell)
    assert -1.0 <= ev.score <= 1.0
    assert ev.score == pytest.approx(sum(s.contribution for s in ev.signals), abs=1e-12)
    ok = [s for s in ev.signals if s.status == STATUS_OK]
    assert ev.sufficient == (ev.coverage >= DEFAULT.min_data_weight - 1e-9 and bool(ok))
    if ev.sufficient:
        assert sum(s.effective_weight for s in ok) == pytest.approx(1.0)
    else:
        assert ev.score == 0.0 and all(s.effective_weight == 0.0 for s in ev.signals)
    if ok:
        assert all(s.score is not None and -1.0 <= s.score <= 1.0 for s in ok)
    assert ev.action is (decide_action(ev.score, buy, sell) if ev.sufficient else Action.HOLD)
