from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.types import Granularity
from coinpilot.exchange.base import ExchangeError, MarketData, ProductNotFound
from coinpilot.exchange.replay import (
    ReplayMarketData,
    _Series,
    aggregate,
    data_range,
    default_replay_start,
    replay_clock,
)

H = 3600
# 2018-03-01 00:00 UTC: inside both hourly files, away from their gaps.
T = datetime(2018, 3, 1, tzinfo=UTC)


def market(now: datetime, **kw: object) -> tuple[ReplayMarketData, FakeClock]:
    clock = FakeClock(now)
    return ReplayMarketData(clock, **kw), clock  # type: ignore[arg-type]


def test_replay_market_data_implements_the_market_data_protocol() -> None:
    m, _ = market(T)
    assert isinstance(m, MarketData)


def test_candle_is_invisible_until_it_has_closed() -> None:
    m, clock = market(T + timedelta(seconds=H - 1))
    got = m.get_candles("BTC-USD", Granularity.ONE_HOUR, T - timedelta(hours=5), T + timedelta(hours=5))
    assert got.last_time == T - timedelta(hours=1)  # the candle starting at T is still forming
    clock.advance(1)
    got = m.get_candles("BTC-USD", Granularity.ONE_HOUR, T - timedelta(hours=5), T + timedelta(hours=5))
    assert got.last_time == T


def test_no_candle_ever_returned_ends_after_now() -> None:
    m, clock = market(T)
    for step in range(0, 10 * H, 1234):
        clock.set(T + timedelta(seconds=step))
        for g in (Granularity.ONE_HOUR, Granularity.SIX_HOUR, Granularity.ONE_DAY):
            c = m.get_candles("ETH-USD", g, T - timedelta(days=10), T + timedelta(days=10))
            assert len(c) > 0
            assert int(c.start[-1]) + g.seconds <= clock.now().timestamp()


def test_candles_are_oldest_first_and_inside_the_requested_window() -> None:
    m, _ = market(T + timedelta(days=2))
    start, end = T - timedelta(hours=10), T + timedelta(hours=10)
    c = m.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
    assert len(c) == 20
    assert np.all(np.diff(c.start) > 0)
    assert c.start[0] >= start.timestamp() and c.start[-1] < end.timestamp()


def test_candles_before_the_data_start_are_empty() -> None:
    first, _ = data_range("BTC-USD")
    m, _ = market(first)
    c = m.get_candles("BTC-USD", Granularity.ONE_HOUR, first - timedelta(days=5), first)
    assert len(c) == 0


def test_six_hour_candles_aggregate_the_hourly_ones_on_utc_boundaries() -> None:
    m, _ = market(T + timedelta(days=3))
    hourly = m.get_candles("BTC-USD", Granularity.ONE_HOUR, T, T + timedelta(days=2))
    six = m.get_candles("BTC-USD", Granularity.SIX_HOUR, T, T + timedelta(days=2))
    assert len(six) == 8
    for k in range(len(six)):
        lo = int(six.start[k])
        assert lo % (6 * H) == 0
        sel = (hourly.start >= lo) & (hourly.start < lo + 6 * H)
        assert sel.sum() == 6
        assert six.open[k] == hourly.open[sel][0]
        assert six.close[k] == hourly.close[sel][-1]
        assert six.high[k] == hourly.high[sel].max()
        assert six.low[k] == hourly.low[sel].min()
        assert six.volume[k] == pytest.approx(hourly.volume[sel].sum())


def test_daily_bucket_stays_hidden_until_the_whole_day_has_closed() -> None:
    m, clock = market(T + timedelta(hours=23))
    day = m.get_candles("BTC-USD", Granularity.ONE_DAY, T, T + timedelta(days=1))
    assert len(day) == 0
    clock.set(T + timedelta(days=1))
    day = m.get_candles("BTC-USD", Granularity.ONE_DAY, T, T + timedelta(days=1))
    assert len(day) == 1 and day.start[0] == T.timestamp()


def test_aggregate_combines_partial_buckets_across_a_gap() -> None:
    start = np.array([0, 3600, 7200, 18000, 21600], dtype=np.int64)  # 3h and 4h missing
    f = np.array
    s = _Series(
        Granularity.ONE_HOUR,
        start,
        f([1.0, 2, 3, 4, 5]),
        f([10.0, 20, 30, 40, 50]),
        f([0.5, 1.5, 2.5, 3.5, 4.5]),
        f([1.5, 2.5, 3.5, 4.5, 5.5]),
        f([1.0, 1, 1, 1, 1]),
    )
    six = aggregate(s, Granularity.SIX_HOUR)
    assert six.start.tolist() == [0, 21600]
    assert six.open.tolist() == [1.0, 5.0]
    assert six.high.tolist() == [40.0, 50.0]
    assert six.low.tolist() == [0.5, 4.5]
    assert six.close.tolist() == [4.5, 5.5]
    assert six.volume.tolist() == [4.0, 1.0]


def test_finer_granularity_than_stored_is_refused_with_a_clear_error() -> None:
    m, _ = market(T)
    with pytest.raises(ExchangeError) as err:
        m.get_candles("BTC-USD", Granularity.FIFTEEN_MINUTE, T - timedelta(days=1), T)
    assert err.value.code == "UNSUPPORTED_GRANULARITY"
    assert "ONE_HOUR" in err.value.reason


def test_minute_source_serves_five_minute_candles() -> None:
    first, _ = data_range("BTC-USD", source="minute_2020")
    start = first.replace(minute=0) + timedelta(hours=2)
    m, _ = market(start + timedelta(hours=1), source="minute_2020")
    five = m.get_candles("BTC-USD", Granularity.FIVE_MINUTE, start, start + timedelta(hours=1))
    assert len(five) == 12
    assert np.all(five.start % 300 == 0)


def test_unknown_pair_raises_product_not_found() -> None:
    m, _ = market(T)
    with pytest.raises(ProductNotFound):
        m.get_candles("DOGE-USD", Granularity.ONE_HOUR, T - timedelta(days=1), T)
    with pytest.raises(ProductNotFound):
        m.get_best_bid_ask(["DOGE-USD"])


def test_products_carry_coinbase_increments() -> None:
    m, _ = market(T)
    assert {p.product_id for p in m.list_products()} == {"BTC-USD", "ETH-USD"}
    btc = m.get_product("BTC-USD")
    assert btc.base_increment == Decimal("0.00000001")
    assert btc.quote_increment == Decimal("0.01")
    assert btc.base_min_size == Decimal("0.00000001")
    assert btc.quote_min_size == Decimal("1")
    eth = m.get_product("ETH-USD")
    assert (eth.base_increment, eth.quote_increment, eth.quote_min_size) == (
        Decimal("0.00000001"),
        Decimal("0.01"),
        Decimal("1"),
    )


def test_best_bid_ask_is_cent_quantised_decimal_around_the_candle_open() -> None:
    m, _ = market(T)  # exactly at a candle start: the price is that candle's open
    hourly = m.get_candles("BTC-USD", Granularity.ONE_HOUR, T, T + timedelta(hours=1))
    assert len(hourly) == 0  # sanity: forming candle hidden
    later, _ = market(T + timedelta(hours=1))
    open_ = Decimal(
        str(later.get_candles("BTC-USD", Granularity.ONE_HOUR, T, T + timedelta(hours=1)).open[0])
    )
    q = m.get_best_bid_ask(["BTC-USD"])["BTC-USD"]
    assert q.bid.as_tuple().exponent == -2 and q.ask.as_tuple().exponent == -2
    assert q.bid < open_ < q.ask
    spread_bps = (q.ask - q.bid) / q.mid * 10000
    assert Decimal("1.5") <= spread_bps <= Decimal("2.5")
    assert q.time == T


def test_spread_is_configurable() -> None:
    narrow, _ = market(T, spread_bps=Decimal("2"))
    wide, _ = market(T, spread_bps=Decimal("50"))
    n = narrow.get_best_bid_ask(["ETH-USD"])["ETH-USD"]
    w = wide.get_best_bid_ask(["ETH-USD"])["ETH-USD"]
    assert (w.ask - w.bid) > (n.ask - n.bid)
    assert w.bid < n.bid and w.ask > n.ask


def test_interpolated_price_moves_from_open_towards_close_inside_a_candle() -> None:
    later, _ = market(T + timedelta(hours=2))
    c = later.get_candles("BTC-USD", Granularity.ONE_HOUR, T, T + timedelta(hours=1))
    m, _ = market(T + timedelta(minutes=30), spread_bps=Decimal("0"))
    q = m.get_best_bid_ask(["BTC-USD"])["BTC-USD"]
    expected = (Decimal(str(c.open[0])) + Decimal(str(c.close[0]))) / 2
    assert abs(q.mid - expected) <= Decimal("0.01")


def test_last_close_mode_prices_at_the_previous_closed_candle() -> None:
    later, _ = market(T + timedelta(hours=2))
    prev = later.get_candles("BTC-USD", Granularity.ONE_HOUR, T - timedelta(hours=1), T)
    m, _ = market(T + timedelta(minutes=30), spread_bps=Decimal("0"), price_mode="last_close")
    q = m.get_best_bid_ask(["BTC-USD"])["BTC-USD"]
    assert q.bid == q.ask == Decimal(str(prev.close[0])).quantize(Decimal("0.01"))


def test_price_before_the_data_is_an_error_and_after_it_freezes() -> None:
    first, last = data_range("BTC-USD")
    m, clock = market(first - timedelta(hours=1))
    with pytest.raises(ExchangeError) as err:
        m.get_best_bid_ask(["BTC-USD"])
    assert err.value.code == "NO_MARKET_DATA"
    clock.set(last + timedelta(days=30))
    q = m.get_best_bid_ask(["BTC-USD"])["BTC-USD"]
    assert q.time == last  # stale quote is visible as such
    clock.set(last + timedelta(days=60))
    assert m.get_best_bid_ask(["BTC-USD"])["BTC-USD"] == q


def test_data_range_covers_both_hourly_pairs() -> None:
    for pair in ("BTC-USD", "ETH-USD"):
        first, last = data_range(pair)
        assert first == datetime(2017, 7, 1, 11, tzinfo=UTC)
        assert last == datetime(2019, 6, 4, 2, tzinfo=UTC)


def test_default_replay_start_leaves_warmup_history_for_every_pair() -> None:
    start = default_replay_start(warmup_candles=300)
    m, _ = market(start)
    for pair in ("BTC-USD", "ETH-USD"):
        c = m.get_candles(pair, Granularity.ONE_HOUR, start - timedelta(days=400), start)
        assert len(c) >= 300
    earlier, _ = market(start - timedelta(hours=1))
    counts = [
        len(earlier.get_candles(p, Granularity.ONE_HOUR, start - timedelta(days=400), start))
        for p in ("BTC-USD", "ETH-USD")
    ]
    assert min(counts) < 300  # and it is the earliest such time


def test_replay_clock_starts_at_the_default_or_the_given_time() -> None:
    clock = replay_clock(speed=1.0)
    assert clock.now() - default_replay_start() < timedelta(seconds=5)
    given = datetime(2018, 6, 1, tzinfo=UTC)
    fast = replay_clock(speed=60.0, start=given)
    assert fast.speed == 60.0
    assert timedelta(0) <= fast.now() - given < timedelta(minutes=5)


def test_replay_clock_refuses_a_start_outside_the_data() -> None:
    with pytest.raises(ValueError, match="outside"):
        replay_clock(speed=1.0, start=datetime(2022, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="outside"):
        replay_clock(speed=1.0, start=datetime(2018, 1, 1, tzinfo=UTC), source="hourly_2024")
