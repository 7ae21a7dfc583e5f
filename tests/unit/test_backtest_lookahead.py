"""The look-ahead and history checks catch leaky decision functions and pass honest ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from coinpilot.backtest import lookahead
from coinpilot.backtest.result import BacktestFill, BacktestResult
from coinpilot.domain.market import Candles
from coinpilot.domain.types import Granularity, Side, TradeIntent
from tests import backtest_cases as cases

Rule = Callable[[np.ndarray, int], bool | None]  # closes, index -> want to hold? (None: no data)


def _candles(n: int = 200) -> Candles:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    start = np.arange(n, dtype=np.int64) * 3600 + int(cases.T0.timestamp())
    return Candles("BTC-USD", Granularity.ONE_HOUR, start, open_, high, low, close, np.ones(n))


def _runner(rule: Rule, warmup: int) -> lookahead.Runner:
    """A toy backtest: decide on each candle's close with ``rule``, fill at the next open."""

    def run(c: Candles, start: datetime | None) -> BacktestResult:
        first = warmup if start is None else int(np.searchsorted(c.start, int(start.timestamp())))
        fills, holding = [], False
        for i in range(first, len(c) - 1):
            want = rule(c.close, i)
            if want is None or want == holding:
                continue
            holding = want
            t = datetime.fromtimestamp(int(c.start[i + 1]), UTC)
            price = Decimal(repr(float(c.open[i + 1])))
            fills.append(
                BacktestFill(
                    t,
                    Side.BUY if want else Side.SELL,
                    TradeIntent.ENTRY if want else TradeIntent.SIGNAL_EXIT,
                    "signal",
                    price,
                    Decimal(1),
                    price,
                    Decimal(0),
                    decided_at=t,
                )
            )
        n = len(c) - first
        return BacktestResult(
            cases.spec(),
            c.pair,
            3600,
            c.start[first:],
            c.close[first:],
            np.full(n, 1000.0),
            np.zeros(n),
            fills=fills,
            warmup_candles=first,
        )

    return run


def honest(close: np.ndarray, i: int) -> bool | None:
    return None if i < 3 else bool(close[i] > close[i - 3 : i].mean())


def peeks_ahead(close: np.ndarray, i: int) -> bool | None:
    return bool(close[i + 1] > close[i])  # uses the next candle's close


def remembers_everything(close: np.ndarray, i: int) -> bool | None:
    return bool(close[i] > close[: i + 1].mean())  # depends on how much history there is


def test_an_honest_rule_passes_both_checks() -> None:
    report = lookahead.check(_runner(honest, 3), _candles())
    assert report.passed, report.to_dict()
    assert report.future.compared > 0 and report.history.compared > 0


def test_a_rule_that_peeks_at_the_next_candle_is_caught() -> None:
    report = lookahead.check(_runner(peeks_ahead, 0), _candles())
    assert not report.future.passed
    assert "decision #" in report.future.differences[0]
    assert not report.passed


def test_a_rule_that_depends_on_all_history_is_caught() -> None:
    report = lookahead.check(_runner(remembers_everything, 0), _candles())
    assert report.future.passed  # it never looks ahead ...
    assert not report.history.passed  # ... but more history changes its decisions


def test_perturbation_keeps_candles_valid_and_the_past_unchanged() -> None:
    c = _candles(50)
    p = lookahead.perturb_after(c, 20)
    assert np.array_equal(p.close[:21], c.close[:21])
    assert p.open[21] == c.open[21]  # the price at the cut candle's close is what a decision sees
    assert not np.allclose(p.close[21:], c.close[21:])
    assert np.all(p.high >= p.low) and np.all(p.high >= p.close) and np.all(p.low <= p.open)


def test_too_short_series_is_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        lookahead.check(_runner(honest, 3), _candles(5))
