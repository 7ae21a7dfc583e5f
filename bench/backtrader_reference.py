"""The bench strategy in backtrader, run by ``bench/backtest_references.py`` inside ``bench/.refvenv``.

It trades on the score of ``bench/backtest_reference.py`` (the plain reference loop), built from
backtrader's own indicators where their definition is the reference's, and computed in ``next()``
with the reference's formulas:

* RSI: backtrader's ``RSI`` (Wilder smoothing seeded with the mean of the first ``period`` moves,
  as the reference) with ``safediv`` so a flat window gives 50, as the reference;
* moving averages: ``SMA``; volatility: ``StdDev`` of the one-candle returns ``close / close(-1) - 1``
  (population, as NumPy's ``std``);
* MACD: backtrader's exponential smoothing, but both EMAs seeded where TA-Lib (and the reference)
  seeds them, at the slow EMA's first candle, each from the mean of its last ``period`` closes
  (backtrader's ``MACD`` seeds the fast EMA at its own 12th candle), and the signal EMA of that line;
* the score: each signal mapped to [-1, +1] as :mod:`coinpilot.domain.signals` does, weighted,
  divided by the weights' sum and clamped; no trade until every indicator has data.

Trading as the reference loop: long only; when flat, the score at or above the buy threshold and
the cash at least the stake, buy for the stake (fee ``stake × rate`` included, so the size is
``(stake - fee) / fill price``); when long and the score at or below minus the sell threshold,
sell everything (fee ``rate × proceeds``); both filled at the next candle's open. backtrader's
cheat-on-open mode provides that open before the order is sized (``next_open``) and fills the order
at it; a commission scheme of its own charges the reference's fees.

Usage: ``python backtrader_reference.py CANDLES_CSV_GZ SETTINGS_JSON``; the CSV has the columns
``timestamp,open,high,low,close,volume``. Prints one ``BACKTRADER_RESULT`` line: candles, wall and
CPU seconds of ``cerebro.run()`` (data preloading, indicators, the loop), fills, round trips,
final value (cash plus the position at the last close).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import time
from typing import Any

import backtrader as bt
import pandas as pd


class TalibSeededEMA(bt.indicators.ExponentialSmoothing):
    """backtrader's EMA with its first value at candle ``seed_candles`` (1-based) rather than at
    candle ``period``: the mean of the ``period`` values ending there, as TA-Lib seeds a MACD's EMAs."""

    params = (("seed_candles", None),)

    def __init__(self) -> None:
        super().__init__()
        if self.p.seed_candles is not None and self.p.seed_candles > self.p.period:
            self.addminperiod(self.p.seed_candles - self.p.period + 1)


class ReferenceFees(bt.CommInfoBase):
    """The reference loop's fees: a buy of ``stake`` pays ``rate × stake`` out of the stake (so its
    commission is ``rate / (1 - rate)`` of the value bought), a sell pays ``rate`` of its proceeds."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True))

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        rate = self.p.commission
        value = abs(size) * price
        return value * rate / (1.0 - rate) if size > 0 else value * rate


def _clip(x: float) -> float:
    return -1.0 if x < -1.0 else 1.0 if x > 1.0 else x


def _scaled(value: float, sigma: float, full_scale_sigmas: float) -> float:
    """``coinpilot.domain.signals.scaled_score`` for one value."""
    return _clip(value / (full_scale_sigmas * sigma)) if sigma > 0.0 else 0.0


class ReferenceScore(bt.Strategy):
    params = (("settings", None),)

    def __init__(self) -> None:
        s = self.p.settings
        close = self.data.close
        rsi, ma, macd = s["rsi"], s["ma_crossover"], s["macd"]
        self.rsi = bt.indicators.RSI(close, period=rsi["period"], safediv=True, safelow=50.0)
        self.sma_fast = bt.indicators.SMA(close, period=ma["fast_period"])
        self.sma_slow = bt.indicators.SMA(close, period=ma["slow_period"])
        returns = close / close(-1) - 1.0
        self.ma_sigma = bt.indicators.StdDev(returns, period=ma["slow_period"], safepow=True)
        slow = macd["slow_period"]
        line = TalibSeededEMA(close, period=macd["fast_period"], seed_candles=slow) - TalibSeededEMA(
            close, period=slow, seed_candles=slow
        )
        self.histogram = line - bt.indicators.ExponentialSmoothing(line, period=macd["signal_period"])
        self.macd_sigma = bt.indicators.StdDev(returns, period=slow, safepow=True)
        self.w_rsi, self.w_ma, self.w_macd = rsi["weight"], ma["weight"], macd["weight"]
        self.weight = 0.0
        for w in (self.w_rsi, self.w_ma, self.w_macd):  # summed in the reference's order
            self.weight += w
        self.mid = (rsi["oversold"] + rsi["overbought"]) / 2.0
        self.below = self.mid - rsi["oversold"]
        self.above = rsi["overbought"] - self.mid
        self.ma_sigmas, self.macd_sigmas = s["ma_full_scale_sigmas"], s["macd_full_scale_sigmas"]
        self.buy_at, self.sell_at = s["buy_threshold"], -s["sell_threshold"]
        self.stake, self.fee_rate = s["stake"], s["fee_rate"]
        self.decision: str | None = None  # taken at a candle's close, filled at the next open
        self.fills = 0
        self.round_trips = 0
        self.final_value = float("nan")

    def score(self) -> float:
        rsi = self.rsi[0]
        rsi_score = _clip((self.mid - rsi) / (self.below if rsi <= self.mid else self.above))
        fast, slow = self.sma_fast[0], self.sma_slow[0]
        ma_score = _scaled((fast - slow) / slow, self.ma_sigma[0], self.ma_sigmas)
        macd_score = _scaled(self.histogram[0] / self.data.close[0], self.macd_sigma[0], self.macd_sigmas)
        total = self.w_rsi * rsi_score + self.w_ma * ma_score + self.w_macd * macd_score
        return _clip(total / self.weight)

    def next(self) -> None:
        score = self.score()
        size = self.position.size
        if size == 0.0 and score >= self.buy_at and self.broker.getcash() >= self.stake:
            self.decision = "buy"
        elif size > 0.0 and score <= self.sell_at:
            self.decision = "sell"

    def next_open(self) -> None:
        if self.decision == "buy":
            fee = self.stake * self.fee_rate
            self.buy(size=(self.stake - fee) / self.data.open[0])
        elif self.decision == "sell":
            self.close()
        self.decision = None

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills += 1
        elif order.status in (order.Margin, order.Rejected, order.Canceled):
            raise RuntimeError(f"backtrader refused an order: {order.getstatusname()}")

    def notify_trade(self, trade: bt.Trade) -> None:
        if trade.isclosed:
            self.round_trips += 1

    def stop(self) -> None:
        self.final_value = self.broker.getvalue()


def main(csv_path: str, settings: dict[str, Any]) -> None:
    with gzip.open(csv_path, "rt", encoding="utf-8") as f:
        rows = csv.reader(f)
        columns = next(rows)
        # float(), as the bench's own CSV reader, so both sides see the same numbers
        df = pd.DataFrame([[float(x) for x in row] for row in rows], columns=columns)
    df.index = pd.to_datetime(df.pop("timestamp").astype("int64"), unit="s")
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=df))
    cerebro.addstrategy(ReferenceScore, settings=settings)
    cerebro.broker.setcash(settings["cash"])
    cerebro.broker.addcommissioninfo(ReferenceFees(commission=settings["fee_rate"]))
    wall, cpu = time.perf_counter(), time.process_time()
    (strategy,) = cerebro.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"BACKTRADER_RESULT candles={len(df)} wall={wall!r} cpu={cpu!r} fills={strategy.fills} "
        f"round_trips={strategy.round_trips} final_value={strategy.final_value!r}"
    )


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
