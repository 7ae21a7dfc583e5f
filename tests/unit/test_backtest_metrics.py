"""Backtest metrics on hand-built results whose answers are worked out by hand."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from coinpilot.backtest import metrics
from tests import backtest_cases as cases

D = Decimal
PER_YEAR = 365 * 24  # hourly candles


def test_single_winning_trade() -> None:
    m = metrics.compute(cases.winning())
    assert m.final_equity == D(1010)
    assert m.total_return == pytest.approx(0.01)
    assert m.trades == 1
    assert m.trade_stats.wins == 1 and m.trade_stats.losses == 0
    assert m.trade_stats.win_rate == 1.0
    assert m.trade_stats.profit_factor is None  # no losing trade: no denominator
    assert m.trade_stats.expectancy == D(10)
    assert m.drawdown.max_fraction == 0.0
    assert m.calmar is None
    # the curve followed: 1000 (start), 1000, 1000, 1010, 1010, 1010 -> returns 0,0,.01,0,0
    assert m.sharpe == pytest.approx(math.sqrt(PER_YEAR / 5))
    assert m.sortino is None  # no losing period
    assert m.cagr == pytest.approx(1.01 ** (PER_YEAR / 5) - 1)
    assert m.exposure == pytest.approx(2 / 5)
    assert m.fees_paid == 0
    assert [(r.reason, r.exits, r.pnl) for r in m.exit_reasons] == [("take_profit", 1, D(10))]
    assert m.pnl_by_period["day"] == {"2024-03-01": D(10)}
    assert m.open_trade is None


def test_single_losing_trade_and_its_unrecovered_drawdown() -> None:
    m = metrics.compute(cases.losing())
    assert m.total_return == pytest.approx(-0.01)
    assert m.trades == 1
    assert m.trade_stats.win_rate == 0.0
    assert m.trade_stats.profit_factor == 0.0
    assert m.trade_stats.expectancy == D(-10)
    assert m.drawdown.max_fraction == pytest.approx(0.01)
    assert m.drawdown.max_amount == pytest.approx(10)
    assert m.drawdown.peak_at == cases.T0  # the starting cash is the first peak
    assert m.drawdown.trough_at == cases.at(3)  # close of candle 2
    assert m.drawdown.recovered_at is None
    assert m.drawdown.duration_seconds == 4 * 3600  # to the end of the data
    assert m.cagr is not None and m.cagr < 0
    assert m.calmar == pytest.approx(m.cagr / 0.01)
    # returns 0, 0, -0.01, 0: mean -0.0025, downside RMS sqrt(0.0001/4) = 0.005
    assert m.sortino == pytest.approx(-0.0025 / 0.005 * math.sqrt(PER_YEAR))
    assert [(r.reason, r.losses) for r in m.exit_reasons] == [("stop_loss", 1)]


def test_flat_series_has_zero_return_and_undefined_ratios() -> None:
    m = metrics.compute(cases.flat())
    assert m.total_return == 0.0
    assert m.cagr == 0.0
    assert m.sharpe is None and m.sortino is None and m.calmar is None  # no variation: undefined
    assert m.trades == 0 and m.fills == 0
    assert m.trade_stats.win_rate is None and m.trade_stats.expectancy is None
    assert m.drawdown.max_fraction == 0.0 and m.drawdown.duration_seconds == 0
    assert m.exposure == 0.0
    assert m.buy_and_hold is not None and m.buy_and_hold.total_return == 0.0


def test_known_drawdown_and_its_duration() -> None:
    m = metrics.compute(cases.known_drawdown())
    dd = m.drawdown
    assert dd.max_fraction == pytest.approx(0.25)
    assert dd.max_amount == pytest.approx(300)
    assert dd.peak_at == cases.at(2)  # close of candle 1
    assert dd.trough_at == cases.at(3)
    assert dd.recovered_at == cases.at(5)
    assert dd.duration_seconds == int(timedelta(hours=3).total_seconds())
    assert dd.longest_seconds == 3 * 3600
    assert m.total_return == pytest.approx(0.3)
    assert m.exposure == 1.0


def test_two_drawdowns_the_deeper_one_and_the_longest_stretch() -> None:
    # 1000 -> 900 (-10 %), back at 2 h; 1100 -> 950 (-13.6 %), not back by the end (3 h later)
    times = np.asarray([0, 3600, 7200, 10800, 14400, 18000, 21600], dtype=np.int64)
    equity = np.asarray([1000, 900, 1000, 1100, 1000, 950, 960], dtype=np.float64)
    dd = metrics.drawdown_figures(times, equity)
    assert dd.max_fraction == pytest.approx(150 / 1100)
    assert dd.max_amount == pytest.approx(150)
    assert dd.recovered_at is None
    assert dd.duration_seconds == 3 * 3600  # from the 1100 peak to the end
    assert dd.longest_seconds == 3 * 3600
    # recovered first stretch, unrecovered second, longer first
    equity = np.asarray([1000, 900, 900, 900, 1000, 990, 1000], dtype=np.float64)
    dd = metrics.drawdown_figures(times, equity)
    assert dd.longest_seconds == 4 * 3600 and dd.duration_seconds == 4 * 3600


def test_tranches_exit_reasons_refusals_and_derived_pnl() -> None:
    m = metrics.compute(cases.ladder())
    assert m.trades == 1  # one position cycle, however many fills
    assert m.round_trips[0].entries == 2 and m.round_trips[0].exits == 2
    assert m.round_trips[0].pnl == D(5)  # +10 at the rung, -5 at the stop (average entry 90)
    assert m.round_trips[0].exit_reason == "stop_loss"
    assert [(t.tranche, t.entries, t.quote_spent, t.average_price) for t in m.tranches] == [
        (0, 1, D(100), D(100)),
        (1, 1, D(80), D(80)),
    ]
    assert {r.reason: r.pnl for r in m.exit_reasons} == {"take_profit": D(10), "stop_loss": D(-5)}
    assert m.refusals_by_code == {"MAX_POSITION": 1, "MAX_TRANCHES": 2}


def test_open_position_at_the_end_is_not_a_trade() -> None:
    r = cases.result(
        close=[100, 100, 120],
        equity=[1000, 1000, 1020],
        position=[0, 1, 1],
        fills=[cases.buy(1, "100", "1")],
        final_equity="1020",
    )
    m = metrics.compute(r)
    assert m.trades == 0
    assert m.open_trade is not None and m.open_trade.entries == 1
    assert m.trade_stats.count == 0


def test_fees_and_buy_and_hold_with_costs() -> None:
    s = cases.spec(fee="0.01", slippage="0")
    r = cases.result(
        close=[100, 100, 200],
        equity=[1000, 999, 1098],
        position=[0, 1, 0],
        fills=[cases.buy(1, "100", "1", fee="1"), cases.sell(2, "200", "1", "signal_exit", None, fee="2")],
        final_equity="1097",
        the_spec=s,
    )
    m = metrics.compute(r)
    assert m.fees_paid == D(3)
    assert m.round_trips[0].pnl == D(200 - 2 - 101)  # proceeds after fee minus cost with fee
    bh = m.buy_and_hold
    assert bh is not None
    # 1000 with its 1 % fee on top buys 1000 / (1.01 * 100) BTC (the fill's value + fee == 1000,
    # as the simulated exchange books a quote-sized buy); at 200 less 1 %: * 200 * 0.99 = 1960.396
    assert float(bh.final_equity) == pytest.approx(1000 / 1.01 / 100 * 200 * 0.99)
    assert float(bh.final_equity) == pytest.approx(1960.39604)
    assert bh.total_return == pytest.approx(0.96039604)


def test_buy_and_hold_buys_at_the_ask_and_is_valued_at_the_bid_like_the_backtest() -> None:
    """Spread 20 bps (half = 0.1 % each side of the close), slippage 10 bps, fee 1 %."""
    s = cases.spec(fee="0.01", slippage="10", spread="20")
    r = cases.result(
        close=[100, 100, 200], equity=[1000] * 3, position=[0] * 3, final_equity="1000", the_spec=s
    )
    # buy at the ask 100 * 1.001 = 100.1, slipped 100.1 * 1.001 = 100.2001; 1000 USD, fee included,
    # buys 1000 / (1.01 * 100.2001) = 9.881217782 BTC.
    # valued at the bid, less exit slippage and fee: close 100 -> 99.9 * 0.999 = 99.8001 * 0.99,
    # close 200 -> 199.8 * 0.999 = 199.6002 * 0.99.
    curve = metrics.buy_and_hold_curve(r)
    assert curve.tolist() == pytest.approx([976.28505756, 976.28505756, 1952.57011512])
    bh = metrics.compute(r).buy_and_hold
    assert bh is not None
    assert bh.entry_price == pytest.approx(100.2001)  # what the buy paid per BTC
    assert float(bh.final_equity) == pytest.approx(1952.57011512)
    assert bh.total_return == pytest.approx(0.95257011512)
    # a flat market costs buy-and-hold the spread, slippage and fees both ways
    flat = cases.result(close=[100] * 3, equity=[1000] * 3, position=[0] * 3, the_spec=s)
    assert metrics.compute(flat).buy_and_hold.total_return == pytest.approx(976.28505756 / 1000 - 1)


def test_warmup_candles_are_reported_but_the_figures_start_at_the_first_decision() -> None:
    r = cases.result(
        close=[100, 110],
        equity=[1000, 1100],
        position=[0, 0],
        warmup=35,  # history the driver used; the arrays start after it
        final_equity="1100",
    )
    m = metrics.compute(r)
    assert m.warmup_candles == 35 and m.candles == 2
    assert m.period_start == cases.T0
    assert m.buy_and_hold is not None and m.buy_and_hold.entry_price == 100.0
    assert m.buy_and_hold.total_return == pytest.approx(0.1)


def test_ratio_helpers_refuse_to_invent_numbers() -> None:
    assert metrics.sharpe(np.asarray([0.01]), 8760) is None
    assert metrics.cagr(0.0, 10.0, 3600) is None
    assert metrics.cagr(100.0, 0.0, 3600) == -1.0
