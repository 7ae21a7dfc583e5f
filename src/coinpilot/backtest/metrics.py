"""Every figure a person reads about a backtest, computed from the raw facts of a
:class:`~coinpilot.backtest.result.BacktestResult` (pure: no I/O, no clock).

Conventions, stated once so a figure means one thing:

- Money is ``Decimal`` (from the fills, as the simulated exchange booked them); ratios (Sharpe,
  Sortino, Calmar, win rate, profit factor, exposure) are floats, for display and ranking. The
  per-candle equity curve is float64 (it is a mark-to-market statistic, not a booking).
- Returns are fractions (0.05 = +5 %). Ratios are annualised from the candle granularity with a
  365-day year (crypto trades every day) and a risk-free rate of 0.
- A ratio without a denominator is ``None``, never 0 and never infinity: a flat equity curve has
  no volatility, so its Sharpe and Sortino are ``None`` (undefined), as is the Calmar ratio of a
  run without a drawdown and the profit factor of a run without a losing trade.
- A *trade* is one round trip (position cycle; see :mod:`coinpilot.backtest.trades`, which
  also builds the per-tranche and per-exit-reason tables). A cycle still open at the end is
  reported as ``open_trade``, not counted as a win or a loss.
- Win rate, profit factor and expectancy are per trade (``domain.analytics.trade_stats``, the
  same function the dashboard uses for live exits); the per-exit-reason table is per exit fill.
- The per-candle arrays of a result start at the first candle a decision is made on (the
  driver's warm-up candles are history only and are not in them; ``warmup_candles`` says how
  many there were). The period reported runs from that candle's start to the last close.
- Buy and hold buys with all the starting cash at the close of the first decision candle and is
  marked at every later close, paying what the backtest's fills pay: the replay spread (buys at
  the ask, valued at the bid), slippage and fee, once on the way in and once on the way out.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from coinpilot.backtest.result import BacktestResult
from coinpilot.backtest.trades import (
    ExitReasonRow,
    RoundTrip,
    TrancheRow,
    exit_events,
    exit_reason_table,
    round_trips,
    tranche_table,
)
from coinpilot.domain import analytics

ZERO = Decimal(0)
YEAR_SECONDS = 365 * 86400
BPS = Decimal(10000)


@dataclass(frozen=True)
class DrawdownFigures:
    """The deepest fall of the equity curve from a running peak, and how long it lasted."""

    max_fraction: float  # 0.25 = the equity fell 25 % below its peak
    max_amount: float  # in quote currency, at that deepest point
    peak_at: datetime | None
    trough_at: datetime | None
    recovered_at: datetime | None  # first close back at or above the peak; None: never
    duration_seconds: int  # peak to recovery (or to the end of the data if never recovered)
    longest_seconds: int  # the longest time spent below a previous peak, any drawdown


@dataclass(frozen=True)
class BuyAndHold:
    entry_price: float | None
    final_equity: Decimal
    total_return: float
    cagr: float | None
    max_drawdown: float


@dataclass(frozen=True)
class BacktestMetrics:
    starting_cash: Decimal
    final_equity: Decimal
    total_return: float
    cagr: float | None
    drawdown: DrawdownFigures
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    trades: int  # closed round trips
    trade_stats: analytics.TradeStats  # over closed round trips
    open_trade: RoundTrip | None
    fills: int
    fees_paid: Decimal
    exposure: float  # share of processed candles (after warm-up) holding a position
    period_start: datetime | None
    period_end: datetime | None
    candles: int
    warmup_candles: int
    tranches: list[TrancheRow] = field(default_factory=list)
    exit_reasons: list[ExitReasonRow] = field(default_factory=list)
    refusals_by_code: dict[str, int] = field(default_factory=dict)
    pnl_by_period: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    buy_and_hold: BuyAndHold | None = None
    round_trips: list[RoundTrip] = field(default_factory=list)
    gaps: int = 0
    missing_candles: int = 0


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def drawdown_figures(times: np.ndarray, equity: np.ndarray) -> DrawdownFigures:
    """Deepest peak-to-trough fall of ``equity`` (aligned with ``times``, Unix seconds) and how
    long it lasted; the first point is the first peak."""
    if equity.size == 0:
        return DrawdownFigures(0.0, 0.0, None, None, None, 0, 0)
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, 1.0 - equity / peaks, 0.0)
    trough = int(np.argmax(falls))
    worst = float(falls[trough])
    if worst <= 0:
        return DrawdownFigures(0.0, 0.0, None, None, None, 0, 0)
    peak = int(np.flatnonzero(equity[: trough + 1] == peaks[trough])[0])
    after = np.flatnonzero(equity[trough:] >= peaks[trough])
    recovered = trough + int(after[0]) if after.size else None
    end = int(times[recovered]) if recovered is not None else int(times[-1])
    # longest stretch below a previous peak: from the peak before it to the first point back at
    # or above it (or the last point); vectorised, as a year of minutes is half a million points
    below = np.concatenate(([False], equity < peaks, [False])).astype(np.int8)
    edges = np.diff(below)
    starts = np.flatnonzero(edges == 1)  # first point below (>= 1: the first point is a peak)
    ends = np.minimum(np.flatnonzero(edges == -1), equity.size - 1)  # first point back, or the last
    longest = int((times[ends] - times[starts - 1]).max()) if starts.size else 0
    return DrawdownFigures(
        max_fraction=worst,
        max_amount=float(peaks[trough] - equity[trough]),
        peak_at=_utc(times[peak]),
        trough_at=_utc(times[trough]),
        recovered_at=_utc(times[recovered]) if recovered is not None else None,
        duration_seconds=end - int(times[peak]),
        longest_seconds=longest,
    )


def period_returns(equity: np.ndarray) -> np.ndarray:
    """Simple return of each candle over the one before (empty for fewer than two points)."""
    if equity.size < 2:
        return np.empty(0, dtype=np.float64)
    prev = equity[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev > 0, equity[1:] / prev - 1.0, 0.0)
    return np.asarray(r, dtype=np.float64)


def sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Mean over standard deviation (sample, ddof=1) of per-candle returns, annualised; None for
    fewer than two returns or no variation (a flat curve has no risk to reward)."""
    if returns.size < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if not math.isfinite(sd) or sd <= 1e-15:
        return None
    return float(np.mean(returns)) / sd * math.sqrt(periods_per_year)


def sortino(returns: np.ndarray, periods_per_year: float) -> float | None:
    """Mean return over the downside deviation (root mean square of the negative returns, over
    all periods, target 0), annualised; None without any losing period."""
    if returns.size < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside <= 1e-15:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(periods_per_year)


def cagr(start_value: float, end_value: float, seconds: float) -> float | None:
    """Compound annual growth rate; None without a period, from a start of 0, or when compounding
    a short period's gain over a year overflows a float."""
    if seconds <= 0 or start_value <= 0:
        return None
    if end_value <= 0:
        return -1.0
    try:
        return float((end_value / start_value) ** (YEAR_SECONDS / seconds) - 1.0)
    except OverflowError:  # hours of gains compounded over a year: no meaningful annual figure
        return None


def buy_and_hold_entry_price(result: BacktestResult) -> float | None:
    """What buy and hold pays per coin: the replay ask at the first decision candle's close (the
    close plus half the spread), with the buy's slippage on top; None without candles."""
    if len(result.close) == 0:
        return None
    spec = result.spec
    half = float(spec.spread_bps / (2 * BPS))
    return float(result.close[0]) * (1 + half) * (1 + float(spec.slippage_bps / BPS))


def buy_and_hold_curve(result: BacktestResult) -> np.ndarray:
    """Equity of buying with all the starting cash at the first decision candle's close and
    marking at every later close, priced as the backtest's own fills are (floats, no tick rounding):
    the buy pays the ask (close + half the spread) with slippage, and the fee on top as the
    simulated exchange books a quote-sized buy (value + fee = the cash); each mark is the bid
    (close - half the spread) less the exit slippage and fee, so the last point is what selling
    would have returned."""
    spec = result.spec
    close = np.asarray(result.close, dtype=np.float64)
    cash = float(spec.starting_cash)
    curve = np.full(close.size, cash, dtype=np.float64)
    entry = buy_and_hold_entry_price(result)
    if entry is None:
        return curve
    half = float(spec.spread_bps / (2 * BPS))
    slip = float(spec.slippage_bps / BPS)
    fee = float(spec.fee_rate)
    base = cash / ((1 + fee) * entry)
    curve[:] = base * close * (1 - half) * (1 - slip) * (1 - fee)
    return curve


def compute(result: BacktestResult) -> BacktestMetrics:
    """Every figure of the report from one result's raw facts."""
    spec = result.spec
    g = result.granularity_seconds
    times = np.asarray(result.timestamps, dtype=np.int64) + g  # equity is marked at each close
    equity = np.asarray(result.equity, dtype=np.float64)
    start_cash = spec.starting_cash
    final = (
        result.final_equity if result.final_equity or not equity.size else Decimal(repr(float(equity[-1])))
    )
    total_return = float(final / start_cash - 1) if start_cash > 0 else 0.0
    span = float(times[-1] - times[0] + g) if equity.size else 0.0
    # the curve a person's money followed: the start cash, then each decision candle's close
    curve = np.concatenate(([float(start_cash)], equity)) if equity.size else np.empty(0)
    curve_times = np.concatenate(([times[0] - g], times)) if equity.size else np.empty(0, np.int64)
    dd = drawdown_figures(curve_times, curve)
    rets = period_returns(curve)
    per_year = YEAR_SECONDS / g if g > 0 else 0.0
    growth = cagr(float(start_cash), float(final), span)
    dust = spec.product.base_min_size
    trips = round_trips(result.fills, dust)
    closed = [t for t in trips if t.closed_at is not None]
    events = exit_events(result.fills)
    realised_events = [
        analytics.RealisedEvent(f.at, spec.label or result.pair, pnl, f.intent.value) for f, pnl in events
    ]
    position = np.asarray(result.position, dtype=np.float64)
    held = position > float(dust) if dust > 0 else position > 0
    exposure = float(np.count_nonzero(held)) / position.size if position.size else 0.0
    codes: Counter[str] = Counter(code for r in result.refusals for code in r.codes)
    bh = buy_and_hold_curve(result)
    bh_final = Decimal(repr(float(bh[-1]))) if bh.size else start_cash
    missing = sum(int(gap.get("missing", 0)) for gap in result.gaps)
    return BacktestMetrics(
        starting_cash=start_cash,
        final_equity=final,
        total_return=total_return,
        cagr=growth,
        drawdown=dd,
        sharpe=sharpe(rets, per_year),
        sortino=sortino(rets, per_year),
        calmar=(growth / dd.max_fraction) if growth is not None and dd.max_fraction > 0 else None,
        trades=len(closed),
        trade_stats=analytics.trade_stats(t.pnl for t in closed),
        open_trade=trips[-1] if trips and trips[-1].closed_at is None else None,
        fills=len(result.fills),
        fees_paid=sum((f.fee for f in result.fills), ZERO),
        exposure=exposure,
        period_start=_utc(times[0] - g) if equity.size else None,
        period_end=_utc(times[-1]) if equity.size else None,
        candles=int(equity.size),
        warmup_candles=result.warmup_candles,
        tranches=tranche_table(result.fills),
        exit_reasons=exit_reason_table(events),
        refusals_by_code=dict(sorted(codes.items())),
        pnl_by_period={p: analytics.pnl_by_period(realised_events, p) for p in analytics.PERIODS},
        buy_and_hold=BuyAndHold(
            entry_price=buy_and_hold_entry_price(result) if equity.size else None,
            final_equity=bh_final,
            total_return=float(bh_final / start_cash - 1) if start_cash > 0 else 0.0,
            cagr=cagr(float(start_cash), float(bh_final), span),
            max_drawdown=drawdown_figures(times, bh).max_fraction,
        ),
        round_trips=trips,
        gaps=len(result.gaps),
        missing_candles=missing,
    )


def duration_text(seconds: int) -> str:
    """``3d 4h``: durations in reports (whole hours are enough for a backtest period)."""
    td = timedelta(seconds=seconds)
    if td.days:
        return f"{td.days}d {td.seconds // 3600}h"
    return f"{td.seconds // 3600}h {td.seconds % 3600 // 60:02d}m"
