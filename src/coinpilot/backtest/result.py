"""What a backtest is asked to do and what it hands back: the contract between the driver, the
reports, the optimiser and the API.

The driver (:mod:`coinpilot.backtest.engine`) fills a :class:`BacktestResult` with raw facts only:
every fill as the simulated exchange accounted it (``Decimal``, like the live ledger), every
safety refusal with its reason codes, and the per-candle equity curve. Every figure a person reads
(return, drawdown, Sharpe, per-tranche tables…) is computed from these facts by
:mod:`coinpilot.backtest.metrics`, so a stored result can be re-reported without re-running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Product
from coinpilot.domain.types import Side, TradeIntent


@dataclass(frozen=True)
class BacktestSpec:
    """One bot's configuration over one series, with the paper exchange's cost model."""

    bot: BotConfig
    limits: SafetyLimits
    product: Product
    starting_cash: Decimal = Decimal(1000)
    fee_rate: Decimal = Decimal("0.006")  # the paper exchange's taker fee (settings.paper_fee_rate)
    slippage_bps: Decimal = Decimal(5)  # settings.paper_slippage_bps
    # The replayed market's bid/ask spread around the mid (ReplayMarketData.spread_bps).
    spread_bps: Decimal = Decimal(2)
    # Raw strategy JSON as stored on the bot (None: the BotConfig's own strategy), so the
    # bot-level stop / take-profit fallbacks apply exactly as live (decision.effective_strategy).
    strategy_raw: dict[str, Any] | None = None
    label: str = ""


@dataclass(frozen=True)
class BacktestFill:
    """One filled order, as the simulated exchange accounted it."""

    at: datetime  # fill time (simulated)
    side: Side
    intent: TradeIntent
    reason: str
    price: Decimal  # average fill price
    base_size: Decimal
    quote_value: Decimal  # base_size x price as credited/debited, before the fee
    fee: Decimal
    tranche: int | None = None  # 0-based tranche index of an entry
    rung: int | None = None  # take-profit rung of a ladder exit
    realised_pnl: Decimal | None = None  # sells: realised by this fill (average-cost method)
    decided_at: datetime | None = None  # the candle close the decision was made on


@dataclass(frozen=True)
class BacktestRefusal:
    """An order the kernel wanted that the safety check refused."""

    at: datetime
    side: Side
    intent: TradeIntent
    codes: tuple[str, ...]


@dataclass
class BacktestResult:
    """Raw facts of one run. Arrays are per processed candle, aligned with ``timestamps``."""

    spec: BacktestSpec
    pair: str
    granularity_seconds: int
    timestamps: np.ndarray  # int64 Unix seconds of each candle's start
    close: np.ndarray  # float64 close price per candle
    equity: np.ndarray  # float64 cash + position marked at the bid, at each candle's close
    position: np.ndarray  # float64 base size held at each candle's close
    fills: list[BacktestFill] = field(default_factory=list)
    refusals: list[BacktestRefusal] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # backtest.data.Gap.to_dict()
    warmup_candles: int = 0  # candles before the first one a decision could be made on
    final_cash: Decimal = Decimal(0)
    final_position: Decimal = Decimal(0)
    final_equity: Decimal = Decimal(0)  # cash + position at the last bid (Decimal)
    elapsed_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
