"""Known answers for the analytics figures, computed by hand from small event lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from coinpilot.domain.analytics import (
    RealisedEvent,
    drawdown,
    equity_curve,
    pnl_by_period,
    signal_accuracy,
    sum_by,
    trade_stats,
)

T0 = datetime(2024, 2, 26, 12, 0, tzinfo=UTC)  # a Monday (ISO week 9)


def ev(hours: float, pnl: str, bot: str = "btc", reason: str = "take_profit") -> RealisedEvent:
    return RealisedEvent(T0 + timedelta(hours=hours), bot, D(pnl), reason)


def test_trade_stats_known_answer() -> None:
    # wins 10 + 5 = 15 (2), losses -4 - 2 = -6 (2), one break-even
    s = trade_stats([D("10"), D("-4"), D("5"), D("0"), D("-2")])
    assert (s.count, s.wins, s.losses) == (5, 2, 2)
    assert s.total_pnl == D("9")
    assert s.win_rate == 0.5
    assert s.average_win == D("7.5")
    assert s.average_loss == D("-3")
    assert s.profit_factor == 2.5
    assert s.expectancy == D("1.8")  # 9 / 5


def test_trade_stats_without_losses_or_events_has_no_ratios() -> None:
    assert trade_stats([D("3")]).profit_factor is None
    empty = trade_stats([])
    assert (empty.count, empty.win_rate, empty.expectancy, empty.total_pnl) == (0, None, None, D(0))


def test_equity_curve_is_cumulative_in_time_order() -> None:
    curve = equity_curve([ev(2, "-1.5"), ev(1, "4"), ev(3, "0.25")])
    assert [v for _, v in curve] == [D("4"), D("2.5"), D("2.75")]
    assert [t for t, _ in curve] == sorted(t for t, _ in curve)


def test_drawdown_measures_the_largest_fall_from_a_running_peak() -> None:
    # curve: 5, 2, 8, 3, 6  -> falls 3 (5->2) and 5 (8->3); ends 2 below the peak of 8
    curve = equity_curve([ev(1, "5"), ev(2, "-3"), ev(3, "6"), ev(4, "-5"), ev(5, "3")])
    dd = drawdown(curve)
    assert dd.max_amount == D("5")
    assert dd.peak_at == T0 + timedelta(hours=3)
    assert dd.trough_at == T0 + timedelta(hours=4)
    assert dd.current == D("2")


def test_drawdown_counts_a_loss_from_the_start_as_a_fall() -> None:
    dd = drawdown(equity_curve([ev(1, "-2"), ev(2, "-1")]))
    assert dd.max_amount == D("3")
    assert dd.peak_at is None  # the peak was the start


def test_pnl_by_day_week_month_and_by_bot_and_reason() -> None:
    events = [
        ev(0, "1", "btc", "take_profit"),  # Mon 26 Feb, W09
        ev(13, "2", "eth", "stop_loss"),  # Tue 27 Feb 01:00
        ev(24 * 7, "-4", "btc", "stop_loss"),  # Mon 4 Mar (2024 is a leap year), W10
    ]
    assert pnl_by_period(events, "day") == {"2024-02-26": D(1), "2024-02-27": D(2), "2024-03-04": D(-4)}
    assert pnl_by_period(events, "week") == {"2024-W09": D(3), "2024-W10": D(-4)}
    assert pnl_by_period(events, "month") == {"2024-02": D(3), "2024-03": D(-4)}
    assert sum_by(events, lambda e: e.bot) == {"btc": D(-3), "eth": D(2)}
    assert sum_by(events, lambda e: e.reason) == {"stop_loss": D(-2), "take_profit": D(1)}
    with pytest.raises(ValueError):
        pnl_by_period(events, "year")


def test_signal_accuracy_judges_direction_over_the_next_n_closed_candles() -> None:
    hour = timedelta(hours=1)
    starts = [T0 + i * hour for i in range(6)]
    closes = [D(c) for c in ("100", "101", "99", "99", "105", "104")]
    scores = [
        # at T0+1h candle 0 is closed: close 100 -> 2 candles later (index 2) 99: price fell
        (T0 + hour, {"rsi": 0.5, "macd": -0.2, "ma": 0.0}),
        # at T0+2h30 candle 1 closed (101) -> index 3: 99, fell
        (T0 + 2.5 * hour, {"rsi": -0.1, "macd": -0.3, "ma": None}),
        # at T0+3h candle 2 closed (99) -> index 4: 105, rose
        (T0 + 3 * hour, {"rsi": 0.4, "macd": -0.1, "ma": 0.2}),
        # candle 3 closed (99) -> index 5 (104): rose
        (T0 + 4 * hour, {"rsi": -0.2, "macd": 0.3, "ma": 0.1}),
        # outcome beyond the data: left out
        (T0 + 5 * hour, {"rsi": 0.9, "macd": 0.9, "ma": 0.9}),
        # before any candle closed: left out
        (T0 + 0.5 * hour, {"rsi": 0.9, "macd": 0.9, "ma": 0.9}),
    ]
    result = {a.signal: a for a in signal_accuracy(scores, starts, closes, horizon=2, candle_length=hour)}
    assert (result["rsi"].calls, result["rsi"].correct) == (4, 2)  # wrong, right, right, wrong
    assert (result["macd"].calls, result["macd"].correct) == (4, 3)  # right, right, wrong, right
    assert (result["ma"].calls, result["ma"].correct) == (2, 2)
    assert result["rsi"].accuracy == 0.5
    with pytest.raises(ValueError):
        signal_accuracy(scores, starts, closes, horizon=0, candle_length=hour)
