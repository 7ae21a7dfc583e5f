"""A backtest's report as data: one JSON document with a stable schema. The terminal's tables
are :mod:`coinpilot.cli.backtest_tables`, the self-contained HTML page
:mod:`coinpilot.backtest.report_html`.

The JSON is what gets stored (the API's ``backtest_runs`` table) and what ``--json FILE`` writes,
so it carries every figure a report shows, plus the raw fills and refusals. Money is a string
(``Decimal`` kept exact), ratios are numbers or ``null`` when undefined (see
:mod:`coinpilot.backtest.metrics`), times are ISO 8601 in UTC. ``schema`` names the version; a
field is only ever added, never renamed.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from coinpilot.backtest.metrics import BacktestMetrics, compute
from coinpilot.backtest.result import BacktestResult

SCHEMA = "coinpilot.backtest.report/1"
CURVE_POINTS = 2000  # the equity curve in the JSON is thinned to about this many points


def jsonable(value: Any) -> Any:
    """Decimals as strings, datetimes as ISO text, enums as values, non-finite floats as null."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer)):
        return jsonable(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def thin(n: int, keep: int = CURVE_POINTS, must: tuple[int, ...] = ()) -> np.ndarray:
    """Indices of about ``keep`` evenly spaced points of ``n``, always with the first, the last
    and every index in ``must`` (the candles with a fill, so markers land on a point)."""
    if n <= keep:
        return np.arange(n)
    idx = np.unique(
        np.concatenate((np.linspace(0, n - 1, keep).astype(np.int64), np.asarray(must, np.int64)))
    )
    return idx[(idx >= 0) & (idx < n)]


def spec_dict(result: BacktestResult) -> dict[str, Any]:
    spec = result.spec
    bot = spec.bot
    return {
        "label": spec.label,
        "starting_cash": str(spec.starting_cash),
        "fee_rate": str(spec.fee_rate),
        "slippage_bps": str(spec.slippage_bps),
        "product": jsonable(spec.product),
        "limits": jsonable(spec.limits),
        "bot": {
            "pair": bot.pair,
            "granularity": bot.granularity.value,
            "signal_config": bot.signals.to_dict(),
            "buy_threshold": bot.buy_threshold,
            "sell_threshold": bot.sell_threshold,
            "confirmation_minutes": bot.confirmation_minutes,
            "trade_size_usd": str(bot.trade_size_usd),
            "cooldown_minutes": bot.cooldown_minutes,
            "max_tranches": bot.max_tranches,
            "stop_loss_pct": jsonable(bot.stop_loss_pct),
            "take_profit_pct": jsonable(bot.take_profit_pct),
            "strategy": jsonable(
                spec.strategy_raw if spec.strategy_raw is not None else bot.strategy.to_dict()
            ),
        },
    }


def summary_dict(m: BacktestMetrics) -> dict[str, Any]:
    """The headline figures: what the API's run list and the analytics view show."""
    return {
        "period_start": jsonable(m.period_start),
        "period_end": jsonable(m.period_end),
        "candles": m.candles,
        "starting_cash": str(m.starting_cash),
        "final_equity": str(m.final_equity),
        "total_return": m.total_return,
        "cagr": jsonable(m.cagr),
        "max_drawdown": m.drawdown.max_fraction,
        "max_drawdown_duration_seconds": m.drawdown.duration_seconds,
        "sharpe": jsonable(m.sharpe),
        "sortino": jsonable(m.sortino),
        "calmar": jsonable(m.calmar),
        "trades": m.trades,
        "win_rate": m.trade_stats.win_rate,
        "profit_factor": m.trade_stats.profit_factor,
        "expectancy": jsonable(m.trade_stats.expectancy),
        "fills": m.fills,
        "fees_paid": str(m.fees_paid),
        "exposure": m.exposure,
        "buy_and_hold_return": m.buy_and_hold.total_return if m.buy_and_hold else None,
    }


def to_dict(result: BacktestResult, m: BacktestMetrics | None = None) -> dict[str, Any]:
    """The whole report as JSON-ready data (``json.dumps`` needs no custom encoder)."""
    m = m or compute(result)
    g = result.granularity_seconds
    must = tuple(int(i) for i in fill_indices(result))
    idx = thin(len(result.equity), must=must)
    return {
        "schema": SCHEMA,
        "mode": "backtest",
        "pair": result.pair,
        "granularity": result.spec.bot.granularity.value,
        "granularity_seconds": g,
        "period": {
            "start": jsonable(m.period_start),
            "end": jsonable(m.period_end),
            "candles": m.candles,
            "warmup_candles": m.warmup_candles,
            "gaps": m.gaps,
            "missing_candles": m.missing_candles,
        },
        "spec": spec_dict(result),
        "summary": summary_dict(m),
        "drawdown": jsonable(m.drawdown),
        "trade_stats": m.trade_stats.to_dict(),
        "buy_and_hold": jsonable(m.buy_and_hold),
        "open_trade": jsonable(m.open_trade),
        "tranches": jsonable(m.tranches),
        "exit_reasons": jsonable(m.exit_reasons),
        "refusals_by_code": dict(m.refusals_by_code),
        "pnl_by_period": jsonable(m.pnl_by_period),
        "round_trips": jsonable(m.round_trips),
        "fills": jsonable(result.fills),
        "refusals": jsonable(result.refusals),
        "gaps": jsonable(result.gaps),
        "equity_curve": {
            "t": [int(result.timestamps[i]) + g for i in idx],
            "equity": [round(float(result.equity[i]), 8) for i in idx],
        },
        "elapsed_seconds": result.elapsed_seconds,
        "candles_per_second": (len(result.equity) / result.elapsed_seconds)
        if result.elapsed_seconds > 0
        else None,
        "meta": jsonable(result.meta),
    }


def fill_indices(result: BacktestResult) -> np.ndarray:
    """The candle each fill happened in (its start at or before the fill time)."""
    if not result.fills or not len(result.timestamps):
        return np.empty(0, dtype=np.int64)
    times = np.asarray([int(f.at.timestamp()) for f in result.fills], dtype=np.int64)
    return np.clip(np.searchsorted(result.timestamps, times, side="right") - 1, 0, len(result.timestamps) - 1)
