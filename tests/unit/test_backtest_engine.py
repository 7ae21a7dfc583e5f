"""The backtest driver on hand-built series: what it trades, when, at what price, and why not."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np
import pytest

from coinpilot.backtest.data import shipped_candles
from coinpilot.backtest.engine import default_start_index, run_backtest
from coinpilot.backtest.result import BacktestSpec
from coinpilot.domain.bot import BotConfig
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Granularity, Side, TradeIntent
from coinpilot.exchange.replay import PRODUCTS

D = Decimal
H = 3600
T0 = 1_600_000_000 // H * H
RSI_ONLY = {"rsi": {"weight": 1.0}, "ma_crossover": {"enabled": False}, "macd": {"enabled": False}}
LIMITS = SafetyLimits(cooldown_minutes=0, min_reserved_balance_usd=D(0))


def candles(closes: list[float], start: int = T0) -> Candles:
    close = np.asarray(closes, dtype=np.float64)
    opens = np.r_[close[0], close[:-1]]
    n = len(close)
    return Candles(
        "BTC-USD",
        Granularity.ONE_HOUR,
        start + H * np.arange(n, dtype=np.int64),
        opens,
        np.maximum(opens, close) * 1.001,
        np.minimum(opens, close) * 0.999,
        close,
        np.ones(n),
    )


def spec(strategy: dict[str, Any] | None = None, limits: SafetyLimits = LIMITS, **bot: Any) -> BacktestSpec:
    raw = {"take_profit_ladder": [], **(strategy or {})}
    cfg = BotConfig(
        pair="BTC-USD",
        signals=SignalConfig.from_dict(RSI_ONLY),
        buy_threshold=bot.pop("buy_threshold", 0.5),
        sell_threshold=bot.pop("sell_threshold", 0.5),
        confirmation_minutes=bot.pop("confirmation_minutes", 0),
        trade_size_usd=D(20),
        cooldown_minutes=0,
        max_tranches=bot.pop("max_tranches", 1),
        granularity=Granularity.ONE_HOUR,
        strategy=StrategyConfig.from_dict(raw),
    )
    return BacktestSpec(bot=cfg, limits=limits, product=PRODUCTS["BTC-USD"], strategy_raw=raw)


def falling(n: int, start: float = 20000.0, step: float = 10.0) -> list[float]:
    return [start - step * i for i in range(n)]


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_a_flat_series_never_trades_and_keeps_its_cash() -> None:
    result = run_backtest(spec(), candles([20000.0] * 300))
    assert result.fills == [] and result.refusals == []
    assert np.all(result.equity == 1000.0)
    assert result.final_equity == D(1000)


def test_no_decision_before_the_warm_up() -> None:
    s = spec()
    c = candles(falling(200))  # BUY (RSI 0) from the first candle RSI is defined on
    first = default_start_index(c, s)
    result = run_backtest(s, c)
    assert result.warmup_candles == first
    assert result.fills[0].at == at(int(c.start[first]) + H)  # the close of the first decision candle
    later = run_backtest(s, c, start=at(int(c.start[150])))
    assert later.fills[0].at == at(int(c.start[150]) + H)


def test_a_decision_on_a_candle_fills_at_the_next_open() -> None:
    s = spec()
    c = candles(falling(200))
    result = run_backtest(s, c)
    first = default_start_index(c, s)
    nxt = D(str(float(c.open[first + 1])))  # the open of the candle after the decision
    cent = D("0.01")
    ask = (nxt * (1 + D(2) / 20000) / cent).to_integral_value(rounding=ROUND_CEILING) * cent
    price = (ask * (1 + D(5) / 10000) / cent).to_integral_value(rounding=ROUND_CEILING) * cent
    fill = result.fills[0]
    assert (fill.side, fill.intent, fill.price) == (Side.BUY, TradeIntent.ENTRY, price)
    assert fill.quote_value + fill.fee == D(20)  # the quote-sized buy spends exactly its size


def test_a_single_winning_trade() -> None:
    # A steady fall (RSI 0: BUY), then a rise as steady: the SELL comes ~13 candles (+7%) later.
    down = falling(112, 30000.0, 100.0)
    closes = down + [down[-1] + 100.0 * (i + 1) for i in range(40)]
    result = run_backtest(spec(), candles(closes))
    assert [f.intent for f in result.fills] == [TradeIntent.ENTRY, TradeIntent.SIGNAL_EXIT]
    exit_fill = result.fills[1]
    assert exit_fill.realised_pnl is not None and exit_fill.realised_pnl > 0
    assert result.final_position == 0
    assert result.final_equity == result.final_cash == D(1000) + exit_fill.realised_pnl


def test_a_stop_loss_exit_sells_everything_below_the_stop() -> None:
    closes = falling(115) + [18000.0] * 20  # a 6% gap down after the entry
    result = run_backtest(spec({"stop_loss_pct": "5"}), candles(closes))
    assert [f.intent for f in result.fills[:2]] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    entry, stop = result.fills[0], result.fills[1]
    assert stop.base_size == entry.base_size
    assert stop.realised_pnl is not None and stop.realised_pnl < 0
    assert "stop" in stop.reason


def test_a_refused_buy_is_recorded_with_its_reason() -> None:
    limits = SafetyLimits(cooldown_minutes=0, min_reserved_balance_usd=D(995))
    result = run_backtest(spec(limits=limits), candles(falling(200)))
    assert result.fills == []
    assert result.refusals, "the buy was wanted and refused"
    first = result.refusals[0]
    assert (first.side, first.intent) == (Side.BUY, TradeIntent.ENTRY)
    assert "MIN_RESERVED_BALANCE" in first.codes


def test_gaps_are_reported_and_too_short_data_is_refused() -> None:
    c = candles(falling(200))
    keep = np.r_[0:150, 160:200]
    gapped = Candles(
        c.pair,
        c.granularity,
        c.start[keep],
        c.open[keep],
        c.high[keep],
        c.low[keep],
        c.close[keep],
        c.volume[keep],
    )
    result = run_backtest(spec(), gapped)
    assert result.gaps == [
        {
            "after": at(int(c.start[149])).isoformat(),
            "before": at(int(c.start[160])).isoformat(),
            "missing": 10,
        }
    ]
    with pytest.raises(ValueError, match="warm-up"):
        run_backtest(spec(), candles(falling(100)))


def test_progress_is_reported_up_to_the_end() -> None:
    seen: list[tuple[int, int]] = []
    result = run_backtest(
        spec(), candles(falling(200)), progress=lambda done, total: seen.append((done, total))
    )
    assert seen and seen[-1][0] == seen[-1][1] == result.meta["ticks"]
    assert all(a <= b for (a, _), (b, _) in itertools.pairwise(seen))


def _slice(c: Candles, lo: int, hi: int) -> Candles:
    return Candles(
        c.pair,
        c.granularity,
        c.start[lo:hi],
        c.open[lo:hi],
        c.high[lo:hi],
        c.low[lo:hi],
        c.close[lo:hi],
        c.volume[lo:hi],
    )


def _shipped_spec() -> BacktestSpec:
    s = spec({"stop_loss_pct": "3", "take_profit_ladder": [["2", "50"], ["4", "50"]]}, max_tranches=3)
    cfg = replace(s.bot, signals=SignalConfig(), buy_threshold=0.25, sell_threshold=0.25)
    return replace(s, bot=cfg)


def test_perturbing_future_candles_never_changes_a_past_decision() -> None:
    c = _slice(shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly"), 4000, 6000)
    cut = 1500
    rng = np.random.default_rng(7)
    factor = np.r_[np.ones(cut + 1), rng.uniform(0.7, 1.3, len(c) - cut - 1)]
    changed = Candles(
        c.pair,
        c.granularity,
        c.start,
        c.open * factor,
        c.high * factor,
        c.low * factor,
        c.close * factor,
        c.volume,
    )
    s = _shipped_spec()
    before, after = run_backtest(s, c), run_backtest(s, changed)
    decided = at(int(c.start[cut]))  # the last tick whose quote is candle ``cut``'s open (unchanged)
    past = [f for f in before.fills if f.at <= decided]
    assert len(past) >= 5
    assert [f for f in after.fills if f.at <= decided] == past
    assert before.fills != after.fills  # the perturbation did change the future


def test_more_history_before_the_start_never_changes_a_decision() -> None:
    c = _slice(shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly"), 3000, 5000)
    s = _shipped_spec()
    start = at(int(c.start[1000]))
    long_history = run_backtest(s, c, start=start)
    short_history = run_backtest(s, _slice(c, 1000 - default_start_index(c, s), len(c)), start=start)
    assert len(long_history.fills) >= 5
    assert short_history.fills == long_history.fills
    assert short_history.refusals == long_history.refusals


def test_data_of_another_granularity_than_the_bot_is_refused() -> None:
    c = candles(falling(200))
    minutes = Candles(c.pair, Granularity.ONE_MINUTE, c.start // 60, c.open, c.high, c.low, c.close, c.volume)
    with pytest.raises(ValueError, match="candles but the data"):
        run_backtest(spec(), minutes)
