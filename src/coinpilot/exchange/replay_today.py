"""Mock mode's default prices for a plain ``coinpilot serve``: the shipped history replayed at
real speed with its dates moved to the present.

Why: at 1x, a replay clock that runs in 2017 dates every trade, fill and evaluation in 2017, so
a person's first paper trade today shows as "2017-07-13", "today's" limits count a day that
ended years ago, and nothing lines up with the wall clock the person reads. Record times must be
real times. Only the *prices* are history: the series is moved forward by a whole number of days
(fixed when the database first runs, kept in its replay anchor so restarts continue the same
series) so that candle boundaries stay on the hour and the day. The demo keeps its own
accelerated clock (1,800x cannot be real time) and its own database.

When the shifted history runs out (about two years after the first start) prices stay at the
last close; ``COINPILOT_MARKET_DATA=coinbase`` gives live public prices instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from coinpilot.domain.clock import Clock, SystemClock
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.replay import ReplayMarketData, default_replay_start

DAY = timedelta(days=1)


class ReplayWallClock(SystemClock):
    """The wall clock, carrying how far the replayed history is moved forward (whole days)."""

    def __init__(self, offset_days: int) -> None:
        self.offset_days = offset_days

    @property
    def offset(self) -> timedelta:
        return timedelta(days=self.offset_days)


def offset_days_for(now: datetime, warmup_candles: int = 300) -> int:
    """Whole days that put the present just after the history's warm-up (at least one day past
    it, so every indicator has its candles from the first evaluation)."""
    start = default_replay_start(warmup_candles=warmup_candles)
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return max((today - first_day).days, 0)


class _HistoryClock:
    def __init__(self, wall: Clock, offset: timedelta) -> None:
        self._wall = wall
        self._offset = offset

    def now(self) -> datetime:
        return self._wall.now() - self._offset


class ReplayOnWallClock:
    """:class:`MarketData` over shipped history, dated ``offset`` later than it happened."""

    def __init__(self, clock: Clock, offset: timedelta) -> None:
        self.offset = offset
        self._seconds = int(offset.total_seconds())
        self.inner = ReplayMarketData(_HistoryClock(clock, offset))

    def list_products(self) -> list[Product]:
        return self.inner.list_products()

    def get_product(self, pair: str) -> Product:
        return self.inner.get_product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        candles = self.inner.get_candles(pair, granularity, start - self.offset, end - self.offset)
        return replace(candles, start=candles.start + self._seconds)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        quotes = self.inner.get_best_bid_ask(pairs)
        return {p: replace(q, time=q.time + self.offset) for p, q in quotes.items()}

    def price_at(self, pair: str, now: datetime) -> tuple[float, datetime]:
        price, when = self.inner.price_at(pair, now - self.offset)
        return price, when + self.offset
