"""Hand-built backtest results with known answers, shared by the metric, report, CLI and API
tests (the driver is not needed to check what is computed from its facts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from coinpilot.backtest.result import BacktestFill, BacktestRefusal, BacktestResult, BacktestSpec
from coinpilot.domain.bot import BotConfig
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.types import Side, TradeIntent
from coinpilot.exchange.replay import PRODUCTS

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = 3600


def bot(**kw: object) -> BotConfig:
    values: dict = {
        "pair": "BTC-USD",
        "signals": SignalConfig.default(),
        "buy_threshold": 0.5,
        "sell_threshold": 0.5,
        "confirmation_minutes": 0,
        "trade_size_usd": D("100"),
        "cooldown_minutes": 0,
        "max_tranches": 3,
    }
    values.update(kw)
    return BotConfig(**values)


def spec(fee: str = "0", slippage: str = "0", spread: str = "0", **kw: object) -> BacktestSpec:
    """A costless exchange unless asked (the hand-built fills below trade at the close itself)."""
    return BacktestSpec(
        bot=bot(**kw),
        limits=SafetyLimits(),
        product=PRODUCTS["BTC-USD"],
        starting_cash=D(1000),
        fee_rate=D(fee),
        slippage_bps=D(slippage),
        spread_bps=D(spread),
        label="case",
    )


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def buy(hour: float, price: str, size: str, tranche: int = 0, fee: str = "0") -> BacktestFill:
    p, b = D(price), D(size)
    return BacktestFill(
        at(hour),
        Side.BUY,
        TradeIntent.ENTRY,
        "entry",
        p,
        b,
        p * b,
        D(fee),
        tranche=tranche,
        decided_at=at(hour),
    )


def sell(
    hour: float, price: str, size: str, reason: str, pnl: str | None, fee: str = "0", rung: int | None = None
) -> BacktestFill:
    p, b = D(price), D(size)
    intent = TradeIntent(reason) if reason in TradeIntent._value2member_map_ else TradeIntent.SIGNAL_EXIT
    return BacktestFill(
        at(hour),
        Side.SELL,
        intent,
        reason,
        p,
        b,
        p * b,
        D(fee),
        rung=rung,
        realised_pnl=None if pnl is None else D(pnl),
        decided_at=at(hour),
    )


def result(
    close: Sequence[float],
    equity: Sequence[float],
    position: Sequence[float],
    fills: Sequence[BacktestFill] = (),
    refusals: Sequence[BacktestRefusal] = (),
    final_equity: str | None = None,
    warmup: int = 0,
    the_spec: BacktestSpec | None = None,
) -> BacktestResult:
    n = len(close)
    return BacktestResult(
        spec=the_spec or spec(),
        pair="BTC-USD",
        granularity_seconds=HOUR,
        timestamps=np.asarray([int(T0.timestamp()) + i * HOUR for i in range(n)], dtype=np.int64),
        close=np.asarray(close, dtype=np.float64),
        equity=np.asarray(equity, dtype=np.float64),
        position=np.asarray(position, dtype=np.float64),
        fills=list(fills),
        refusals=list(refusals),
        warmup_candles=warmup,
        final_equity=D(final_equity) if final_equity is not None else D(repr(float(equity[-1]))),
        final_cash=D(final_equity) if final_equity is not None else D(repr(float(equity[-1]))),
    )


def winning() -> BacktestResult:
    """Buy 1 BTC at 100 on the open of candle 1, sell it at 110 on the open of candle 3."""
    return result(
        close=[100, 100, 110, 110, 110],
        equity=[1000, 1000, 1010, 1010, 1010],
        position=[0, 1, 1, 0, 0],
        fills=[buy(1, "100", "1"), sell(3, "110", "1", "take_profit", "10", rung=0)],
        final_equity="1010",
    )


def losing() -> BacktestResult:
    """Buy 1 BTC at 100, stopped out at 90."""
    return result(
        close=[100, 100, 90, 90],
        equity=[1000, 1000, 990, 990],
        position=[0, 1, 0, 0],
        fills=[buy(1, "100", "1"), sell(2, "90", "1", "stop_loss", "-10")],
        final_equity="990",
    )


def flat(n: int = 48) -> BacktestResult:
    return result(close=[100.0] * n, equity=[1000.0] * n, position=[0.0] * n, final_equity="1000")


def known_drawdown() -> BacktestResult:
    """Equity 1000 → 1200 → 900 (−25 %) → 1000 → 1200 (recovered 3 h after the peak) → 1300."""
    return result(
        close=[100, 120, 90, 100, 120, 130],
        equity=[1000, 1200, 900, 1000, 1200, 1300],
        position=[10, 10, 10, 10, 10, 10],
        final_equity="1300",
    )


def ladder() -> BacktestResult:
    """Two tranches (100 then 80: average 90), a take-profit rung at 100 (+10) and a stop at 85
    (−5) that closes the cycle; the driver gives no realised P&L, so it is derived; one refusal."""
    return result(
        close=[100, 80, 100, 85, 85],
        equity=[1000, 980, 1020, 1005, 1005],
        position=[1, 2, 1, 0, 0],
        fills=[
            buy(0, "100", "1", tranche=0),
            buy(1, "80", "1", tranche=1),
            sell(2, "100", "1", "take_profit", None, rung=0),
            sell(3, "85", "1", "stop_loss", None),
        ],
        refusals=[
            BacktestRefusal(at(1.5), Side.BUY, TradeIntent.ENTRY, ("MAX_TRANCHES", "MAX_POSITION")),
            BacktestRefusal(at(2.5), Side.BUY, TradeIntent.ENTRY, ("MAX_TRANCHES",)),
        ],
        final_equity="1005",
    )
