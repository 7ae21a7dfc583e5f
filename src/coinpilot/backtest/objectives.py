"""What an optimisation maximises, as a person picks it: Sharpe, Calmar, profit, or profit with a
drawdown cap.

Each objective reads a :class:`~coinpilot.backtest.result.BacktestResult` through a small
:class:`Figures` summary (the few numbers the optimiser compares and reports per window), so a trial
ships a handful of floats between processes, never a whole equity curve.

``profit-dd`` treats a drawdown beyond the cap as infeasible: such a trial scores below every
feasible one (``-100 - excess``), yet still tells the sampler which way is better (less excess).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from coinpilot.backtest import metrics
from coinpilot.backtest.result import BacktestResult

OBJECTIVES = ("sharpe", "calmar", "profit", "profit-dd")
INFEASIBLE = -100.0


@dataclass(frozen=True)
class Figures:
    """The summary of one run over one window (percentages as plain numbers: 12.5 means 12.5 %)."""

    return_pct: float
    max_drawdown_pct: float
    sharpe: float
    calmar: float
    fills: int
    candles: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(result: BacktestResult) -> Figures:
    """Return, drawdown, Sharpe and Calmar of ``result`` as :mod:`coinpilot.backtest.metrics`
    defines them (from the starting cash through each decision candle's close), without the
    per-trade tables a trial does not need."""
    marks = np.asarray(result.equity, dtype=np.float64)
    if marks.size == 0:
        return Figures(0.0, 0.0, 0.0, 0.0, len(result.fills), 0)
    g = result.granularity_seconds
    start = float(result.spec.starting_cash)
    final = float(result.final_equity) if result.final_equity else float(marks[-1])
    times = np.asarray(result.timestamps, dtype=np.int64) + g
    curve = np.concatenate(([start], marks))
    curve_times = np.concatenate(([times[0] - g], times))
    drawdown = metrics.drawdown_figures(curve_times, curve).max_fraction
    sharpe = metrics.sharpe(metrics.period_returns(curve), metrics.YEAR_SECONDS / g)
    growth = metrics.cagr(start, final, float(times[-1] - times[0] + g))
    calmar = growth / drawdown if growth is not None and drawdown > 0 else None
    return Figures(
        return_pct=(final / start - 1.0) * 100.0 if start > 0 else 0.0,
        max_drawdown_pct=drawdown * 100.0,
        sharpe=_finite(sharpe),
        calmar=_finite(calmar),
        fills=len(result.fills),
        candles=int(marks.size),
    )


def score(f: Figures, objective: str, max_drawdown_pct: float | None = None) -> float:
    """The value the sampler maximises."""
    if objective == "sharpe":
        return f.sharpe
    if objective == "calmar":
        return f.calmar
    if objective == "profit":
        return f.return_pct
    if objective == "profit-dd":
        cap = 20.0 if max_drawdown_pct is None else max_drawdown_pct
        if f.max_drawdown_pct > cap:
            return INFEASIBLE - (f.max_drawdown_pct - cap)
        return f.return_pct
    raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def _finite(x: float | None) -> float:
    """Undefined ratios (no volatility, no drawdown) rank as 0: neither good nor bad."""
    return float(x) if x is not None and math.isfinite(x) else 0.0
