"""The terminal's view of a backtest report: the figures beside buy-and-hold, then the
breakdowns by tranche, exit reason, safety refusal and month (days and weeks are in --json)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from coinpilot.backtest.metrics import BacktestMetrics, compute, duration_text
from coinpilot.backtest.result import BacktestResult
from coinpilot.cli.formatting import DASH, pct, table, to_increment, usd


def _ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return DASH if value is None else pct(Decimal(repr(value)) * 100)


def _plain_share(value: float | None) -> str:
    """A share without a sign (win rate, time in the market)."""
    return DASH if value is None else f"{value * 100:.2f}%"


def tables(result: BacktestResult, m: BacktestMetrics | None = None) -> Group:
    """What ``coinpilot backtest`` prints: the summary beside buy-and-hold, then the breakdowns."""
    m = m or compute(result)
    inc = result.spec.product.base_increment
    head = Table(title=f"Backtest {result.pair} {result.spec.bot.granularity.value}", show_header=True)
    head.add_column("figure")
    head.add_column("this configuration", justify="right")
    head.add_column("buy and hold", justify="right")
    bh = m.buy_and_hold
    dd = m.drawdown
    rows = [
        ("period", f"{_when(m.period_start)} → {_when(m.period_end)}", ""),
        ("candles (warm-up)", f"{m.candles:,} ({m.warmup_candles:,})", ""),
        ("final equity", usd(m.final_equity), usd(bh.final_equity) if bh else DASH),
        ("total return", _share(m.total_return), _share(bh.total_return) if bh else DASH),
        ("CAGR", _share(m.cagr), _share(bh.cagr) if bh else DASH),
        (
            "max drawdown",
            _share(-dd.max_fraction) if dd.max_fraction else _share(0.0),
            _share(-bh.max_drawdown) if bh and bh.max_drawdown else _share(0.0),
        ),
        (
            "  its duration",
            duration_text(dd.duration_seconds)
            + ("" if dd.recovered_at or not dd.peak_at else " (not recovered)"),
            "",
        ),
        ("Sharpe / Sortino", f"{_ratio(m.sharpe)} / {_ratio(m.sortino)}", ""),
        ("Calmar", _ratio(m.calmar), ""),
        ("trades (round trips)", str(m.trades), ""),
        ("win rate", _plain_share(m.trade_stats.win_rate), ""),
        ("profit factor", _ratio(m.trade_stats.profit_factor), ""),
        ("expectancy per trade", usd(m.trade_stats.expectancy, signed=True), ""),
        ("fees paid", usd(m.fees_paid), ""),
        ("exposure", _plain_share(m.exposure), ""),
        ("gaps (missing candles)", f"{m.gaps} ({m.missing_candles:,})", ""),
    ]
    for name, mine, theirs in rows:
        head.add_row(name, mine, theirs)
    parts: list[Any] = [head]
    if m.tranches:
        t = table(
            "tranche",
            "entries",
            "spent",
            "fees",
            "avg price",
            numeric=("entries", "spent", "fees", "avg price"),
        )
        t.title = "Entries by tranche"
        for row in m.tranches:
            t.add_row(
                str(row.tranche + 1),
                str(row.entries),
                usd(row.quote_spent),
                usd(row.fees),
                to_increment(row.average_price, result.spec.product.price_increment or Decimal("0.01")),
            )
        parts.append(t)
    if m.exit_reasons:
        t = table(
            "exit reason",
            "exits",
            "sold",
            "P&L",
            "wins",
            "losses",
            numeric=("exits", "sold", "P&L", "wins", "losses"),
        )
        t.title = "Exits by reason"
        for er in m.exit_reasons:
            t.add_row(
                er.reason,
                str(er.exits),
                to_increment(er.base_sold, inc),
                usd(er.pnl, signed=True),
                str(er.wins),
                str(er.losses),
            )
        parts.append(t)
    if m.refusals_by_code:
        t = table("safety refusal", "count", numeric=("count",))
        t.title = "Orders the safety rules refused"
        for code, count in m.refusals_by_code.items():
            t.add_row(code, str(count))
        parts.append(t)
    monthly = m.pnl_by_period.get("month") or {}
    if monthly:
        t = table("month", "realised P&L", numeric=("realised P&L",))
        t.title = "Realised P&L by month"
        for label, value in monthly.items():
            t.add_row(label, usd(value, signed=True))
        parts.append(t)
    return Group(*parts)


def _when(value: datetime | None) -> str:
    return DASH if value is None else value.strftime("%Y-%m-%d %H:%M")


def print_report(console: Console, result: BacktestResult, m: BacktestMetrics | None = None) -> None:
    console.print(tables(result, m))
