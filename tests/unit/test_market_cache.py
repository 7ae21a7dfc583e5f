from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import ExchangeUnavailable, MarketData
from coinpilot.exchange.market_cache import CachedMarketData
from coinpilot.exchange.replay import PRODUCTS, ReplayMarketData

T0 = datetime(2018, 3, 1, 12, 0, 7, tzinfo=UTC)
PAIRS = ("BTC-USD", "ETH-USD")


class RecordingMarket:
    """Inner market data that records every call; ``gate`` lets a test hold fetches in flight."""

    def __init__(self) -> None:
        self.candle_calls: list[tuple[str, Granularity, datetime, datetime]] = []
        self.quote_calls: list[list[str]] = []
        self.product_calls = 0
        self.gate: threading.Event | None = None
        self.fail_next = False
        self._lock = threading.Lock()

    def list_products(self) -> list[Product]:
        with self._lock:
            self.product_calls += 1
        return list(PRODUCTS.values())

    def get_product(self, pair: str) -> Product:
        with self._lock:
            self.product_calls += 1
        return PRODUCTS[pair]

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        with self._lock:
            self.candle_calls.append((pair, granularity, start, end))
            fail, self.fail_next = self.fail_next, False
        if self.gate is not None:
            assert self.gate.wait(timeout=10)
        if fail:
            raise ExchangeUnavailable("boom")
        return Candles.empty(pair, granularity)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        with self._lock:
            self.quote_calls.append(list(pairs))
        return {p: BestBidAsk(p, Decimal("100.00"), Decimal("100.02"), T0) for p in pairs}


def make(ttl: float = 30.0, **kw: float) -> tuple[CachedMarketData, RecordingMarket, FakeClock]:
    inner = RecordingMarket()
    clock = FakeClock(T0)
    return CachedMarketData(inner, clock, ttl_seconds=ttl, **kw), inner, clock


def bot_window(clock: FakeClock, g: Granularity, n: int = 300) -> tuple[datetime, datetime]:
    now = clock.now()
    return now - timedelta(seconds=g.seconds * n), now


def test_cache_implements_the_market_data_protocol() -> None:
    cache, _, _ = make()
    assert isinstance(cache, MarketData)


def test_hundred_bots_on_two_pairs_make_two_inner_candle_calls_within_ttl() -> None:
    cache, inner, clock = make(ttl=30)
    for bot in range(100):
        clock.advance(0.05)  # bots evaluate a few milliseconds apart
        start, end = bot_window(clock, Granularity.ONE_HOUR)
        cache.get_candles(PAIRS[bot % 2], Granularity.ONE_HOUR, start, end)
    assert len(inner.candle_calls) == 2
    assert cache.calls.counts["get_candles"] == 2
    assert cache.requests.counts["get_candles"] == 100


def test_candles_are_refetched_after_the_ttl() -> None:
    cache, inner, clock = make(ttl=30)
    start, end = T0 - timedelta(days=5), T0
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
    clock.advance(29.9)
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
    assert len(inner.candle_calls) == 1
    clock.advance(0.1)
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
    assert len(inner.candle_calls) == 2


def test_a_new_candle_closing_changes_the_key_even_within_the_ttl() -> None:
    cache, inner, clock = make(ttl=3600)
    clock.set(datetime(2018, 3, 1, 12, 59, 59, tzinfo=UTC))
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, *bot_window(clock, Granularity.ONE_HOUR))
    clock.advance(2)  # the 12:00 candle has closed
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, *bot_window(clock, Granularity.ONE_HOUR))
    assert len(inner.candle_calls) == 2


def test_different_granularities_are_cached_separately() -> None:
    cache, inner, clock = make()
    for g in (Granularity.ONE_HOUR, Granularity.SIX_HOUR, Granularity.ONE_HOUR):
        cache.get_candles("BTC-USD", g, *bot_window(clock, g))
    assert [c[1] for c in inner.candle_calls] == [Granularity.ONE_HOUR, Granularity.SIX_HOUR]


def test_cached_candles_equal_uncached_replay_candles() -> None:
    clock = FakeClock(T0)
    replay = ReplayMarketData(clock)
    cache = CachedMarketData(replay, clock, ttl_seconds=30)
    start, end = bot_window(clock, Granularity.ONE_HOUR)
    a = cache.get_candles("ETH-USD", Granularity.ONE_HOUR, start, end)
    b = replay.get_candles("ETH-USD", Granularity.ONE_HOUR, start, end)
    assert a.start.tolist() == b.start.tolist() and a.close.tolist() == b.close.tolist()


def test_concurrent_callers_share_one_in_flight_fetch() -> None:
    cache, inner, clock = make()
    inner.gate = threading.Event()
    start, end = bot_window(clock, Granularity.ONE_HOUR)
    n = 20
    results: list[Candles] = []
    errors: list[BaseException] = []

    def bot() -> None:
        try:
            results.append(cache.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bot) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10  # synchronisation only: wait until all callers are inside
    while cache.requests.counts.get("get_candles", 0) < n and time.monotonic() < deadline:
        time.sleep(0.001)
    inner.gate.set()
    for t in threads:
        t.join(timeout=10)
    assert not errors
    assert len(results) == n
    assert len(inner.candle_calls) == 1
    assert all(r is results[0] for r in results)


def test_an_inner_error_reaches_the_caller_and_is_not_cached() -> None:
    cache, inner, clock = make()
    inner.fail_next = True
    window = bot_window(clock, Granularity.ONE_HOUR)
    with pytest.raises(ExchangeUnavailable):
        cache.get_candles("BTC-USD", Granularity.ONE_HOUR, *window)
    cache.get_candles("BTC-USD", Granularity.ONE_HOUR, *window)
    assert len(inner.candle_calls) == 2


def test_zero_ttl_never_serves_from_cache() -> None:
    cache, inner, clock = make(ttl=0)
    window = bot_window(clock, Granularity.ONE_HOUR)
    for _ in range(3):
        cache.get_candles("BTC-USD", Granularity.ONE_HOUR, *window)
    assert len(inner.candle_calls) == 3


def test_products_are_cached_for_the_longer_product_ttl() -> None:
    cache, inner, clock = make(ttl=1, product_ttl_seconds=600)
    for _ in range(50):
        cache.get_product("BTC-USD")
        cache.list_products()
        clock.advance(1)
    assert inner.product_calls == 2  # one get_product, one list_products
    clock.advance(600)
    cache.get_product("BTC-USD")
    assert inner.product_calls == 3


def test_best_bid_ask_is_cached_for_the_quote_ttl() -> None:
    cache, inner, clock = make(quote_ttl_seconds=1.0)
    for _ in range(10):
        cache.get_best_bid_ask(["BTC-USD"])
    assert len(inner.quote_calls) == 1
    clock.advance(1.0)
    assert cache.get_best_bid_ask(["BTC-USD"])["BTC-USD"].bid == Decimal("100.00")
    assert len(inner.quote_calls) == 2


def test_one_quote_refresh_serves_every_watched_pair() -> None:
    cache, inner, clock = make(quote_ttl_seconds=1.0)
    cache.get_best_bid_ask(["BTC-USD"])
    cache.get_best_bid_ask(["ETH-USD"])
    assert len(inner.quote_calls) == 2
    clock.advance(1.0)
    for bot in range(100):  # each bot asks for its own pair only
        got = cache.get_best_bid_ask([PAIRS[bot % 2]])
        assert list(got) == [PAIRS[bot % 2]]
    assert len(inner.quote_calls) == 3
    assert sorted(inner.quote_calls[-1]) == sorted(PAIRS)


def test_quote_request_for_several_pairs_is_one_inner_call() -> None:
    cache, inner, _ = make()
    got = cache.get_best_bid_ask(["ETH-USD", "BTC-USD", "ETH-USD"])
    assert list(got) == ["ETH-USD", "BTC-USD"]
    assert len(inner.quote_calls) == 1


def test_pairs_nobody_asks_for_any_more_drop_out_of_the_batched_refresh() -> None:
    cache, inner, clock = make(quote_ttl_seconds=1.0)
    cache.get_best_bid_ask(["BTC-USD", "ETH-USD"])
    for _ in range(400):  # only BTC is asked for from now on, once a second
        clock.advance(1.0)
        cache.get_best_bid_ask(["BTC-USD"])
    assert inner.quote_calls[1] == ["BTC-USD", "ETH-USD"]
    assert inner.quote_calls[-1] == ["BTC-USD"]


def test_the_forming_candle_is_dropped_whatever_the_inner_source_returns() -> None:
    import numpy as np

    g = Granularity.ONE_MINUTE
    clock = FakeClock(T0)  # 12:00:07: the 12:00 candle is still forming
    forming = int(T0.timestamp()) // 60 * 60
    starts = np.arange(forming - 4 * 60, forming + 60, 60, dtype=np.int64)  # 11:56 … 12:00

    class WithForming(RecordingMarket):
        def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
            ones = np.ones(len(starts))
            return Candles(pair, granularity, starts, ones, ones, ones, ones, ones)

    cache = CachedMarketData(WithForming(), clock, ttl_seconds=300)
    got = cache.get_candles("BTC-USD", g, T0 - timedelta(minutes=5), T0)
    assert got.start.tolist() == starts[:-1].tolist()
    clock.advance(53)  # 12:01:00: the 12:00 candle has closed (a new window, a new fetch)
    got = cache.get_candles("BTC-USD", g, clock.now() - timedelta(minutes=5), clock.now())
    assert got.start.tolist() == starts.tolist()
