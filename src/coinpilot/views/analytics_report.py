"""The analytics report: figures from :mod:`coinpilot.domain.analytics` over stored trades, one
section per trading mode. Mock and production are reported side by side and never summed; the
backtest section lists the stored backtest runs (simulated, each standing alone: a run's figures
are never added to another run's nor to mock or production), null while there are none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from coinpilot.domain import analytics as metrics
from coinpilot.domain.types import TradingMode
from coinpilot.exchange.base import MarketData
from coinpilot.store.repos import analytics as reads


def _money(d: dict[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in d.items()}


def _curve(curve: list[tuple[datetime, Decimal]]) -> list[dict[str, str]]:
    return [{"t": at.isoformat(), "pnl": str(v)} for at, v in curve]


def mode_report(session: Session, mode: TradingMode, bot_id: int | None = None) -> dict[str, Any]:
    """Every figure for one mode (optionally one bot): stats, fees, curves, drawdown, breakdowns."""
    events = reads.realised_events(session, mode, bot_id)
    fees = reads.fees_by_bot(session, mode, bot_id)
    total_curve = metrics.equity_curve(events)
    dd = metrics.drawdown(total_curve)
    bots = sorted({e.bot for e in events} | set(fees))
    per_bot = {}
    for name in bots:
        mine = [e for e in events if e.bot == name]
        curve = metrics.equity_curve(mine)
        per_bot[name] = {
            "stats": metrics.trade_stats(e.pnl for e in mine).to_dict(),
            "fees": str(fees.get(name, Decimal(0))),
            "equity_curve": _curve(curve),
            "max_drawdown": str(metrics.drawdown(curve).max_amount),
        }
    return {
        "mode": mode.value,
        "stats": metrics.trade_stats(e.pnl for e in events).to_dict(),
        "fees": str(sum(fees.values(), Decimal(0))),
        "equity_curve": _curve(total_curve),
        "drawdown": {
            "max": str(dd.max_amount),
            "current": str(dd.current),
            "peak_at": dd.peak_at.isoformat() if dd.peak_at else None,
            "trough_at": dd.trough_at.isoformat() if dd.trough_at else None,
        },
        "by_bot": per_bot,
        "pnl_by_bot": _money(metrics.sum_by(events, lambda e: e.bot)),
        "pnl_by_exit_reason": _money(metrics.sum_by(events, lambda e: e.reason)),
        "pnl_by_period": {p: _money(metrics.pnl_by_period(events, p)) for p in metrics.PERIODS},
    }


def report(session: Session, bot_id: int | None = None) -> dict[str, Any]:
    return {
        "basis": "realised P&L of exits after fees; each exit (partial or full) is one event",
        "modes": {m.value: mode_report(session, m, bot_id) for m in TradingMode},
        "backtest": backtest_section(session, bot_id),
    }


BACKTEST_RUNS_SHOWN = 20


def backtest_section(session: Session, bot_id: int | None = None) -> dict[str, Any] | None:
    """The newest finished backtest runs (of one bot when ``bot_id`` is given), each with its own
    summary; None when there are none, so the page says so instead of showing zeros."""
    from coinpilot.domain.types import BacktestStatus
    from coinpilot.store.repos import backtests as runs_repo

    runs = runs_repo.list_runs(session, BACKTEST_RUNS_SHOWN, BacktestStatus.DONE, bot_id=bot_id)
    if not runs:
        return None
    return {
        "mode": "backtest",
        "basis": "simulated runs of the backtester on past candles; each run stands alone",
        "runs": [
            {
                "id": r.id,
                "label": r.label,
                "pair": r.pair,
                "granularity": r.granularity.value,
                "bot_id": r.bot_id,
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "summary": r.summary,
                "report_url": f"/api/v1/backtests/{r.id}/report.html",
            }
            for r in runs
        ],
    }


def bot_signal_accuracy(
    session: Session, market: MarketData, bot: Any, now: datetime, horizon: int, evaluations: int
) -> dict[str, Any]:
    """How often each of ``bot``'s signals pointed the right way over the next ``horizon`` candles,
    judged on its stored evaluations against the candles of its own granularity."""
    scores = reads.signal_scores(session, bot.id, evaluations)
    length = timedelta(seconds=bot.granularity.seconds)
    result: list[metrics.SignalAccuracy] = []
    if scores:
        start = scores[0][0] - 2 * length
        candles = market.get_candles(bot.pair, bot.granularity, start, now)
        starts = [datetime.fromtimestamp(int(t), UTC) for t in candles.start]
        closes = [Decimal(repr(float(c))) for c in candles.close]  # compared only, never booked
        result = metrics.signal_accuracy(scores, starts, closes, horizon, length)
    return {
        "bot_id": bot.id,
        "horizon_candles": horizon,
        "granularity": bot.granularity.value,
        "evaluations": len(scores),
        "signals": [a.to_dict() for a in result],
    }
