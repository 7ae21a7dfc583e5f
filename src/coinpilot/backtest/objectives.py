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

from coinpilot.backtest.result import BacktestResult

OBJECTIVES = ("sharpe", "calmar", "profit", "profit-dd")
SECONDS_PER_YEAR = 365 * 24 * 3600
INFEASIBLE = -100.0


@dataclass(frozen=True)
class Figures:
    """The summary of one run over one window (percentages as plain numbers: 12.5 means 12.5 %)."""

    return_pct: float
    max_drawdown_pct: float
    sharpe: float
    calmar: float
    trades: int
    candles: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(result: BacktestResult) -> Figures:
    """Return, drawdown, Sharpe and Calmar of ``result`` (whose arrays start at the first
    decision candle), from the starting cash through each decision candle's close."""
    marks = np.asarray(result.equity, dtype=np.float64)
    if marks.size == 0:
        return Figures(0.0, 0.0, 0.0, 0.0, len(result.fills), 0)
    start = float(result.spec.starting_cash)
    equity = np.concatenate(([start], marks))
    ret = (float(equity[-1]) / start - 1.0) * 100.0 if start > 0 else 0.0
    dd = _max_drawdown_pct(equity)
    sharpe = _sharpe(equity, result.granularity_seconds)
    years = marks.size * result.granularity_seconds / SECONDS_PER_YEAR
    cagr = ((1.0 + ret / 100.0) ** (1.0 / years) - 1.0) * 100.0 if years > 0 and ret > -100 else -100.0
    calmar = cagr / dd if dd > 0 else (0.0 if cagr <= 0 else cagr)
    return Figures(ret, dd, _finite(sharpe), _finite(calmar), len(result.fills), int(marks.size))


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


def _max_drawdown_pct(equity: np.ndarray) -> float:
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 0.0)
    return float(dd.max()) * 100.0 if dd.size else 0.0


def _sharpe(equity: np.ndarray, granularity_seconds: int) -> float:
    if equity.size < 3:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(equity) / equity[:-1]
    sd = float(returns.std(ddof=1))
    if not sd > 0:
        return 0.0
    return float(returns.mean()) / sd * math.sqrt(SECONDS_PER_YEAR / granularity_seconds)


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0
