"""The bench's reference strategy as a freqtrade strategy (loaded by ``bench/freqtrade_reference.py``).

Scores every candle with ``bench/backtest_reference.py``'s :func:`scores` — the same RSI/crossover/MACD
mapping and weights as a Coinpilot bot and the plain reference loop, so freqtrade trades on exactly
the signals the reference loop trades on — and leaves the rest to freqtrade: long only, one trade at
a time, enter when the score reaches the buy threshold, exit when it falls to minus the sell
threshold, no ROI table and no stop loss (both set out of reach). The signal configuration and the
thresholds come from the freqtrade config written by the driver (``coinpilot_reference`` key), so
the bench states them once.

This file runs inside the freqtrade virtual environment only; the driver puts ``src/`` and
``bench/`` on ``sys.path`` so the scoring is imported, not copied.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from backtest_reference import scores
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.types import Granularity


class CoinpilotReference(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    # +100,000 %: never reached, so only the exit signal closes a trade
    minimal_roi: ClassVar[dict[str, float]] = {"0": 1000.0}
    stoploss = -1.0  # -100 %: never reached
    use_exit_signal = True
    exit_profit_only = False
    ignore_roi_if_entry_signal = False
    process_only_new_candles = True
    startup_candle_count = 0  # the score is NaN (no signal) until every indicator has data
    order_types: ClassVar[dict[str, str | bool]] = {
        "entry": "market",
        "exit": "market",
        "stoploss": "market",
        "stoploss_on_exchange": False,
    }

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        settings = self.config["coinpilot_reference"]
        start = dataframe["date"].dt.as_unit("s").astype("int64").to_numpy(dtype=np.int64)
        candles = Candles(
            "BTC-USD",
            Granularity.ONE_MINUTE,
            start,
            *(dataframe[col].to_numpy(dtype=float) for col in ("open", "high", "low", "close", "volume")),
        )
        dataframe["score"] = scores(candles, SignalConfig.from_dict(settings["signals"]))
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        buy = self.config["coinpilot_reference"]["buy_threshold"]
        dataframe.loc[dataframe["score"] >= buy, "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        sell = self.config["coinpilot_reference"]["sell_threshold"]
        dataframe.loc[dataframe["score"] <= -sell, "exit_long"] = 1
        return dataframe
