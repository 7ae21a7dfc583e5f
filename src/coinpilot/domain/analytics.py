"""Performance figures over realised P&L events (pure): the dashboard's analytics and the
backtester's report compute them with these same functions, so a figure means one thing.

A *realised event* is one exit fill's booking: when, which bot, the P&L it realised (after fees)
and why the bot sold (stop_loss, take_profit, ...). Each exit counts once: a position closed in
three take-profit steps is three events (a partial profit is a win, a stop after it a loss).
Entries realise nothing; their fees are already inside the exit's P&L (the average entry
includes them), so fees are reported separately only as a figure, never subtracted again.

Money stays ``Decimal``; ratios (win rate, profit factor) are floats, for display and ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

ZERO = Decimal(0)
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class RealisedEvent:
    at: datetime
    bot: str
    pnl: Decimal
    reason: str = "manual"


@dataclass(frozen=True)
class TradeStats:
    """Win/loss statistics over realised events; None where a ratio has no denominator."""

    count: int
    wins: int
    losses: int
    total_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal  # negative or zero
    win_rate: float | None
    average_win: Decimal | None
    average_loss: Decimal | None  # negative
    profit_factor: float | None  # gross profit / |gross loss|; None without losses
    expectancy: Decimal | None  # mean P&L per event

    def to_dict(self) -> dict[str, object]:
        def money(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "count": self.count,
            "wins": self.wins,
            "losses": self.losses,
            "total_pnl": str(self.total_pnl),
            "gross_profit": str(self.gross_profit),
            "gross_loss": str(self.gross_loss),
            "win_rate": self.win_rate,
            "average_win": money(self.average_win),
            "average_loss": money(self.average_loss),
            "profit_factor": self.profit_factor,
            "expectancy": money(self.expectancy),
        }


def trade_stats(pnls: Iterable[Decimal]) -> TradeStats:
    """Win rate, averages, profit factor and expectancy. A P&L of exactly 0 is neither a win nor a
    loss but counts in ``count`` and the expectancy (it happened and earned nothing)."""
    values = list(pnls)
    wins = [p for p in values if p > 0]
    losses = [p for p in values if p < 0]
    profit = sum(wins, ZERO)
    loss = sum(losses, ZERO)
    decided = len(wins) + len(losses)
    return TradeStats(
        count=len(values),
        wins=len(wins),
        losses=len(losses),
        total_pnl=profit + loss,
        gross_profit=profit,
        gross_loss=loss,
        win_rate=len(wins) / decided if decided else None,
        average_win=profit / len(wins) if wins else None,
        average_loss=loss / len(losses) if losses else None,
        profit_factor=float(profit / -loss) if losses else None,
        expectancy=(profit + loss) / len(values) if values else None,
    )


def equity_curve(events: Iterable[RealisedEvent], start: Decimal = ZERO) -> list[tuple[datetime, Decimal]]:
    """Cumulative realised P&L after each event, in time order (ties keep their input order)."""
    total = start
    curve: list[tuple[datetime, Decimal]] = []
    for event in sorted(events, key=lambda e: e.at):
        total += event.pnl
        curve.append((event.at, total))
    return curve


@dataclass(frozen=True)
class Drawdown:
    max_amount: Decimal  # largest fall from a running peak (>= 0)
    peak_at: datetime | None
    trough_at: datetime | None
    current: Decimal  # how far the last point is below the running peak


def drawdown(curve: Sequence[tuple[datetime, Decimal]], start: Decimal = ZERO) -> Drawdown:
    """Largest peak-to-trough fall of a curve; the starting value counts as the first peak."""
    peak, peak_at = start, None
    worst, worst_peak_at, worst_at = ZERO, None, None
    for at, value in curve:
        if value > peak:
            peak, peak_at = value, at
        fall = peak - value
        if fall > worst:
            worst, worst_peak_at, worst_at = fall, peak_at, at
    current = peak - curve[-1][1] if curve else ZERO
    return Drawdown(worst, worst_peak_at, worst_at, current)


def period_label(at: datetime, period: str) -> str:
    """``2024-03-01`` (day), ``2024-W09`` (ISO week), ``2024-03`` (month), in UTC."""
    if period == "day":
        return at.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return at.strftime("%Y-%m")
    raise ValueError(f"period must be one of {', '.join(PERIODS)}")


def sum_by(events: Iterable[RealisedEvent], key: Callable[[RealisedEvent], str]) -> dict[str, Decimal]:
    """Realised P&L summed per key, keys sorted."""
    totals: dict[str, Decimal] = {}
    for event in events:
        k = key(event)
        totals[k] = totals.get(k, ZERO) + event.pnl
    return dict(sorted(totals.items()))


def pnl_by_period(events: Iterable[RealisedEvent], period: str) -> dict[str, Decimal]:
    return sum_by(events, lambda e: period_label(e.at, period))


@dataclass(frozen=True)
class SignalAccuracy:
    """How often a signal's direction matched the price move over the next ``horizon`` candles."""

    signal: str
    calls: int  # evaluations where the signal leaned one way (score != 0) and the outcome is known
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.calls if self.calls else None

    def to_dict(self) -> dict[str, object]:
        return {
            "signal": self.signal,
            "calls": self.calls,
            "correct": self.correct,
            "accuracy": self.accuracy,
        }


def signal_accuracy(
    scores: Sequence[tuple[datetime, Mapping[str, float | None]]],
    candle_starts: Sequence[datetime],
    closes: Sequence[Decimal],
    horizon: int,
    candle_length: timedelta,
) -> list[SignalAccuracy]:
    """Per signal: calls and correct calls. An evaluation at ``t`` is judged from the close of the
    last candle *closed* by ``t`` to the close ``horizon`` candles later: +score is right when the
    price rose, -score when it fell; an unchanged price or a score of 0 (or None) is no call;
    evaluations whose outcome lies beyond the data are left out.
    """
    if horizon < 1:
        raise ValueError("horizon must be at least one candle")
    if len(candle_starts) != len(closes):
        raise ValueError("candle_starts and closes differ in length")
    import bisect

    counts: dict[str, list[int]] = {}
    for at, by_signal in scores:
        # candles closed by `at`: start + length <= at
        i = bisect.bisect_right(candle_starts, at - candle_length) - 1
        j = i + horizon
        for name, score in by_signal.items():
            entry = counts.setdefault(name, [0, 0])
            if i < 0 or j >= len(closes) or score is None or score == 0:
                continue
            move = closes[j] - closes[i]
            if move == 0:
                continue
            entry[0] += 1
            if (move > 0) == (score > 0):
                entry[1] += 1
    return [SignalAccuracy(name, calls, correct) for name, (calls, correct) in sorted(counts.items())]
