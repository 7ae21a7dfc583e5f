"""Market data shared by every bot: one inner request per pair and window, not one per bot.

:class:`CachedMarketData` wraps any :class:`MarketData` (replay or Coinbase):

- **Candles** are cached per ``(pair, granularity, window)`` for ``ttl_seconds``. The window is
  normalised to the granularity grid (both ends rounded *up* to a candle start), which selects
  exactly the same candles as the caller's window, so bots asking "the last N candles up to now"
  a few milliseconds apart share one entry. Once a new candle closes, ``end=now`` moves to the
  next grid point and the key changes, so a closed candle is never hidden behind the TTL.
- **Single flight**: concurrent callers for the same key wait for the one in-flight fetch and
  share its result (or its exception); errors are never cached.
- **Closed candles only**: a candle still forming at ``min(end, now)`` is dropped from every
  answer (cached or not), so the signals never score it in any mode.
- **Products** are cached for ``product_ttl_seconds`` (they change rarely).
- **Best bid/ask** is cached for ``quote_ttl_seconds`` and batched: a miss refreshes, in one
  inner call, every pair someone asked about recently (within ``max(10 x quote TTL, 5 min)``)
  whose quote is stale, so quote calls grow with time, not with bots or pairs.

``calls`` counts inner calls per endpoint (thread-safe), ``requests`` counts outer ones: tests
and benchmarks use them to show calls grow with pairs, not bots. Time comes from the injected
clock only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from coinpilot.domain.clock import Clock, ensure_utc
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import CallCounter, MarketData

T = TypeVar("T")
MAX_CANDLE_ENTRIES = 4096


@dataclass
class _Flight(Generic[T]):
    """One in-flight inner call; waiters block on ``done``."""

    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    expires_at: datetime


def _grid_ceil(when: datetime, seconds: int) -> int:
    t = ensure_utc(when).timestamp()
    q = int(t // seconds)
    return (q if q * seconds == t else q + 1) * seconds


class CachedMarketData:
    """A thread-safe, TTL'd, single-flight cache in front of another :class:`MarketData`."""

    def __init__(
        self,
        inner: MarketData,
        clock: Clock,
        ttl_seconds: float,
        *,
        product_ttl_seconds: float = 3600.0,
        quote_ttl_seconds: float = 1.0,
    ) -> None:
        if min(ttl_seconds, product_ttl_seconds, quote_ttl_seconds) < 0:
            raise ValueError("cache TTLs must be >= 0")
        self.inner = inner
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._product_ttl = timedelta(seconds=product_ttl_seconds)
        self._quote_ttl = timedelta(seconds=quote_ttl_seconds)
        self.calls = CallCounter()  # inner calls per endpoint
        self.requests = CallCounter()  # outer calls per endpoint
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], _Entry[object]] = {}
        self._flights: dict[tuple[object, ...], _Flight[object]] = {}
        self._quotes: dict[str, _Entry[BestBidAsk]] = {}
        self._quote_flights: dict[str, _Flight[dict[str, BestBidAsk]]] = {}
        # Pairs whose quotes were fetched, with when someone last asked: a refresh includes the
        # ones asked for within the watch window, so forgotten pairs stop being fetched.
        self._watched: dict[str, datetime] = {}
        self._watch_window = max(self._quote_ttl * 10, timedelta(minutes=5))

    # -- generic single-flight ----------------------------------------------------------------
    def _cached(self, key: tuple[object, ...], ttl: timedelta, fetch: Callable[[], T]) -> T:
        with self._lock:
            self.requests.hit(str(key[0]))
            now = self._clock.now()
            entry = self._entries.get(key)
            if entry is not None and now < entry.expires_at:
                return entry.value  # type: ignore[return-value]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = _Flight()
                self._flights[key] = flight
                self.calls.hit(str(key[0]))
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result  # type: ignore[return-value]
        try:
            value = fetch()
        except BaseException as exc:
            flight.error = exc
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
            raise
        flight.result = value
        with self._lock:
            if ttl > timedelta(0):
                self._entries[key] = _Entry(value, self._clock.now() + ttl)
                if len(self._entries) > MAX_CANDLE_ENTRIES:
                    self._evict()
            self._flights.pop(key, None)
        flight.done.set()
        return value

    def _evict(self) -> None:
        """Drop expired entries; if still too many, the ones expiring soonest. Caller holds lock."""
        now = self._clock.now()
        for k in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[k]
        overflow = len(self._entries) - MAX_CANDLE_ENTRIES
        if overflow > 0:
            for k in sorted(self._entries, key=lambda k: self._entries[k].expires_at)[:overflow]:
                del self._entries[k]

    # -- MarketData -------------------------------------------------------------------------
    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        g = granularity.seconds
        lo, hi = _grid_ceil(start, g), _grid_ceil(end, g)
        key = ("get_candles", pair, granularity, lo, hi)
        got = self._cached(key, self._ttl, lambda: self.inner.get_candles(pair, granularity, start, end))
        # Closed candles only, whatever the inner source returns (see Candles.closed).
        return got.closed(min(ensure_utc(end), self._clock.now()))

    def list_products(self) -> list[Product]:
        return list(self._cached(("list_products",), self._product_ttl, self.inner.list_products))

    def get_product(self, pair: str) -> Product:
        return self._cached(("get_product", pair), self._product_ttl, lambda: self.inner.get_product(pair))

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        wanted = list(dict.fromkeys(pairs))
        with self._lock:
            self.requests.hit("get_best_bid_ask")
            now = self._clock.now()
            out: dict[str, BestBidAsk] = {}
            waits: list[_Flight[dict[str, BestBidAsk]]] = []
            missing: list[str] = []
            for pair in wanted:
                if pair in self._watched:
                    self._watched[pair] = now
                entry = self._quotes.get(pair)
                if entry is not None and now < entry.expires_at:
                    out[pair] = entry.value
                elif pair in self._quote_flights:
                    waits.append(self._quote_flights[pair])
                else:
                    missing.append(pair)
            flight: _Flight[dict[str, BestBidAsk]] | None = None
            batch: list[str] = []
            if missing:
                # Refresh every watched pair that is stale too: one call serves all bots.
                # (A set for "not asked already": a list made this quadratic in the pairs.)
                asked_now = set(missing)
                stale = [
                    p
                    for p, asked in sorted(self._watched.items())
                    if now - asked <= self._watch_window
                    and p not in self._quote_flights
                    and p not in asked_now
                    and not (p in self._quotes and now < self._quotes[p].expires_at)
                ]
                batch = missing + stale
                flight = _Flight()
                for p in batch:
                    self._quote_flights[p] = flight
                self.calls.hit("get_best_bid_ask")
        if flight is not None:
            try:
                fetched = self.inner.get_best_bid_ask(batch)
            except BaseException as exc:
                flight.error = exc
                with self._lock:
                    for p in batch:
                        if self._quote_flights.get(p) is flight:
                            del self._quote_flights[p]
                flight.done.set()
                raise
            flight.result = fetched
            with self._lock:
                expires = self._clock.now() + self._quote_ttl
                for p in batch:
                    if self._quote_flights.get(p) is flight:
                        del self._quote_flights[p]
                for p, quote in fetched.items():
                    self._watched.setdefault(p, now)
                    if self._quote_ttl > timedelta(0):
                        self._quotes[p] = _Entry(quote, expires)
            flight.done.set()
            out.update({p: fetched[p] for p in missing if p in fetched})
        for w in waits:
            w.done.wait()
            if w.error is not None:
                raise w.error
            assert w.result is not None
            out.update({p: q for p, q in w.result.items() if p in wanted})
        return {p: out[p] for p in wanted if p in out}

    def invalidate(self) -> None:
        """Forget every cached value (in-flight fetches still complete for their waiters)."""
        with self._lock:
            self._entries.clear()
            self._quotes.clear()
