"""CoinbaseExchange through the real SDK over HTTPS loopback against the stand-in server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from coinpilot.config import load_settings
from coinpilot.domain.clock import FakeClock
from coinpilot.domain.exchange_values import ExchangeOrderStatus, OrderRequest
from coinpilot.domain.types import Granularity, Side, TradingMode
from coinpilot.exchange.base import (
    AuthenticationFailed,
    Exchange,
    ExchangeUnavailable,
    OrderNotFound,
    OrderRejected,
    ProductNotFound,
)
from coinpilot.exchange.check import run_exchange_check
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.exchange.coinbase_errors import order_rejected
from coinpilot.exchange.fill_accounting import account_fills
from coinpilot.exchange.ratelimit import TokenBucket
from coinpilot.testing.fake_coinbase import FakeCoinbase, FakeProduct, synthetic_close
from coinpilot.testing.keys import TestKey, generate_ec_key, generate_ed25519_key

Make = Callable[..., CoinbaseExchange]


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_fill_behaviour(delay=0)
        yield server


@pytest.fixture
def key(fake: FakeCoinbase) -> TestKey:
    k = generate_ec_key()
    fake.add_key(k.name, k.public_pem)
    return k


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(fake: FakeCoinbase, key: TestKey, sleeps: list[float], clock: FakeClock) -> Make:
    def build(k: TestKey | None = None, **kwargs: object) -> CoinbaseExchange:
        k = k or key
        options: dict[str, object] = {
            "base_url": fake.base_url,
            "api_key": k.name,
            "api_secret": k.private_key,
            "ca_cert": fake.cert_path,
            "timeout": 0.5,
            "clock": clock,
            "sleep": sleeps.append,
            "jitter": lambda: 0.5,
            "max_requests_per_second": 1000,
        }
        options.update(kwargs)
        return CoinbaseExchange(**options)  # type: ignore[arg-type]

    return build


@pytest.fixture
def ex(make: Make) -> CoinbaseExchange:
    return make()


def buy(coid: str, quote: str, pair: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(coid, pair, Side.BUY, quote_size=Decimal(quote))


def sell(coid: str, base: str, pair: str = "ETH-USD") -> OrderRequest:
    return OrderRequest(coid, pair, Side.SELL, base_size=Decimal(base))


# ---- interface, market data -----------------------------------------------------------------
def test_adapter_satisfies_exchange_protocol_in_production_mode(ex: CoinbaseExchange) -> None:
    assert isinstance(ex, Exchange)
    assert ex.mode == TradingMode.PRODUCTION


def test_products_have_decimal_increments(ex: CoinbaseExchange) -> None:
    products = {p.product_id: p for p in ex.list_products()}
    assert set(products) == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert products["SOL-USD"].base_min_size == Decimal("0.001")  # a large minimum, like real ones
    btc = ex.get_product("BTC-USD")
    assert btc.base_increment == Decimal("0.00000001")
    assert btc.quote_increment == Decimal("0.01")
    assert btc.quote_min_size == Decimal("1")
    assert btc.price == Decimal("50000")
    assert (btc.base_currency, btc.quote_currency, btc.tradable) == ("BTC", "USD", True)


def test_unknown_product_raises_product_not_found(ex: CoinbaseExchange) -> None:
    with pytest.raises(ProductNotFound):
        ex.get_product("DOGE-EUR")


def test_candles_are_paged_in_350s_and_returned_oldest_first(
    ex: CoinbaseExchange, fake: FakeCoinbase
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    candles = ex.get_candles("BTC-USD", Granularity.ONE_HOUR, start, start + timedelta(hours=1000))
    assert fake.request_count("/candles") == 3
    assert len(candles) == 1000
    assert candles.start[0] == int(start.timestamp())
    assert np.all(np.diff(candles.start) == 3600)
    expected = [float(synthetic_close(Decimal(50000), int(t), 3600)) for t in candles.start]
    assert candles.close.tolist() == expected
    assert candles.close.dtype == np.float64 and candles.start.dtype == np.int64
    assert np.all(candles.high >= candles.low)


def test_candles_for_short_unaligned_range_use_one_request(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    start = datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)
    candles = ex.get_candles("BTC-USD", Granularity.ONE_MINUTE, start, start + timedelta(minutes=5))
    assert fake.request_count("/candles") == 1
    first = int(datetime(2024, 1, 1, 0, 1, tzinfo=UTC).timestamp())
    # 00:01 … 00:04; the 00:05 candle was still forming at the window's end (00:05:30)
    assert candles.start.tolist() == [first + 60 * i for i in range(4)]


def test_the_candle_still_forming_never_leaves_the_adapter(
    ex: CoinbaseExchange, fake: FakeCoinbase, clock: FakeClock
) -> None:
    # The stand-in, like Coinbase, answers with the candle that started but has not closed yet.
    clock.advance(30)
    now = clock.now()
    candles = ex.get_candles("BTC-USD", Granularity.ONE_MINUTE, now - timedelta(minutes=10), now)
    forming = int(now.timestamp()) // 60 * 60
    assert len(candles) >= 9
    assert forming not in candles.start.tolist()
    assert int(candles.start[-1]) + 60 <= int(now.timestamp())


def test_best_bid_ask_is_decimal_per_pair(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.set_price("ETH-USD", "3100.50", spread="1.00")
    books = ex.get_best_bid_ask(["BTC-USD", "ETH-USD"])
    assert fake.request_count("/best_bid_ask") == 1
    eth = books["ETH-USD"]
    assert (eth.bid, eth.ask) == (Decimal("3100.00"), Decimal("3101.00"))
    assert eth.time.tzinfo is not None and eth.time.year >= 2025  # from the response, not clock


def test_public_market_data_works_without_keys(fake: FakeCoinbase, clock: FakeClock) -> None:
    ex = CoinbaseExchange(base_url=fake.base_url, ca_cert=fake.cert_path, timeout=0.5, clock=clock)
    assert ex.get_product("BTC-USD").price == Decimal("50000")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert len(ex.get_candles("BTC-USD", Granularity.ONE_DAY, start, start + timedelta(days=3))) == 3
    assert ex.get_best_bid_ask(["BTC-USD"])["BTC-USD"].ask == Decimal("50000.01")
    with pytest.raises(AuthenticationFailed):
        ex.get_balances()


# ---- orders ----------------------------------------------------------------------------------
def test_buy_rounds_quote_down_and_fills_with_fee_inside(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    ack = ex.place_market_order(buy("b-1", "100.019"))
    (order,) = fake.orders_for("b-1")
    assert order.quote_size == Decimal("100.01")
    assert (ack.order_id, ack.client_order_id, ack.side) == (order.order_id, "b-1", Side.BUY)
    snap = ex.get_order(ack.order_id)
    assert snap.status == ExchangeOrderStatus.FILLED
    assert snap.filled_value + snap.total_fees == Decimal("100.01")
    assert snap.client_order_id == "b-1" and snap.pair == "BTC-USD"
    # Coinbase's average is filled_value / filled_size (the base is rounded down to the increment).
    assert snap.average_price == (snap.filled_value / snap.filled_base).quantize(Decimal("0.01"))
    assert snap.filled_base == Decimal("0.00198819") and snap.filled_value == Decimal("99.41")
    assert snap.created_at is not None and snap.last_fill_at is not None


def test_sell_rounds_base_down_and_balances_follow(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.add_product(
        FakeProduct(
            "ETH-USD", Decimal("3000"), base_increment=Decimal("0.001"), base_min_size=Decimal("0.001")
        )
    )
    fake.set_balance("ETH", "2")
    ex.place_market_order(sell("s-1", "1.23456"))
    (order,) = fake.orders_for("s-1")
    assert order.base_size == Decimal("1.234")
    balances = ex.get_balances()
    assert balances["ETH"].available == Decimal("0.766")
    assert balances["USD"].available > Decimal("10000")


@pytest.mark.parametrize("style", ["rounded", "raw"])
def test_quote_sized_fills_take_their_base_from_the_order(
    ex: CoinbaseExchange, fake: FakeCoinbase, style: str
) -> None:
    fake.set_fill_behaviour(delay=0, partial_fills=2, style=style)
    ack = ex.place_market_order(buy("f-1", "200"))
    fills = ex.get_fills(ack.order_id)
    snap = ex.get_order(ack.order_id)
    assert len(fills) == 2 == snap.number_of_fills
    assert all(f.size_in_quote and f.value is not None for f in fills)  # quote units, no quotient
    accounted = account_fills(snap, fills)
    assert accounted is not None
    assert sum(f.base_size for f in accounted) == snap.filled_base == fake.balances()["BTC"][0]
    assert sum(f.value or 0 for f in accounted) == snap.filled_value
    assert snap.filled_value + snap.total_fees == Decimal("200")
    assert sum(f.fee for f in accounted) == snap.total_fees
    assert {f.liquidity for f in fills} == {"TAKER"}
    assert len({f.fill_id for f in fills}) == 2


def test_get_orders_uses_one_batch_request(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    ids = [ex.place_market_order(buy(f"g-{i}", "10")).order_id for i in range(3)]
    snaps = ex.get_orders(ids)
    assert fake.request_count("/orders/historical/batch") == 1
    assert sorted(s.order_id for s in snaps) == sorted(ids)
    assert ex.get_orders([]) == []


def test_find_order_matches_the_client_order_id_in_the_products_window(
    ex: CoinbaseExchange, fake: FakeCoinbase
) -> None:
    placed = ex.place_market_order(buy("find-me", "10"))
    ex.place_market_order(buy("someone-else", "10"))
    now = datetime.now(UTC)
    found = ex.find_order("BTC-USD", "find-me", now)
    assert found is not None and found.order_id == placed.order_id
    assert found.client_order_id == "find-me"
    assert ex.find_order("BTC-USD", "never-sent", now) is None  # read-only: nothing created
    assert ex.find_order("ETH-USD", "find-me", now) is None  # another product
    assert ex.find_order("BTC-USD", "find-me", now - timedelta(days=1)) is None  # outside the window
    assert fake.request_count("/orders") == 2


def test_unknown_order_raises_order_not_found(ex: CoinbaseExchange) -> None:
    with pytest.raises(OrderNotFound):
        ex.get_order("no-such-order")


def test_cancel_reports_per_order_success(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.set_fill_behaviour(delay=30)
    open_id = ex.place_market_order(buy("c-1", "10")).order_id
    result = ex.cancel_orders([open_id, "missing"])
    assert result == {open_id: True, "missing": False}
    assert ex.get_order(open_id).status == ExchangeOrderStatus.CANCELLED


def test_balances_follow_account_pages(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    for i in range(300):
        fake.set_balance(f"C{i:03d}", str(i))
    balances = ex.get_balances()
    assert fake.request_count("/accounts") == 2
    assert len(balances) == 304  # 300 + USD, BTC, ETH, SOL
    assert balances["C299"].available == Decimal("299")
    assert balances["USD"].available == Decimal("10000")


def test_fee_rates_come_from_transaction_summary(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.set_fees(taker="0.0025", maker="0.0015", tier="Advanced 3")
    rates = ex.get_fee_rates()
    assert (rates.taker, rates.maker, rates.tier) == (Decimal("0.0025"), Decimal("0.0015"), "Advanced 3")


# ---- business failures -------------------------------------------------------------------------
def test_insufficient_funds_is_rejected_with_advice(ex: CoinbaseExchange) -> None:
    with pytest.raises(OrderRejected) as info:
        ex.place_market_order(buy("r-1", "20000"))
    assert info.value.code == "INSUFFICIENT_FUND"
    assert "enough funds" in info.value.reason


def test_quote_below_minimum_is_rejected(ex: CoinbaseExchange) -> None:
    with pytest.raises(OrderRejected) as info:
        ex.place_market_order(buy("r-2", "0.50"))
    assert info.value.code == "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    assert "minimum" in info.value.reason


def test_base_below_minimum_is_rejected(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.set_balance("ETH", "1")
    with pytest.raises(OrderRejected) as info:
        ex.place_market_order(sell("r-3", "0.00005"))
    assert info.value.code == "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"


def test_stale_cached_increment_surfaces_size_precision(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    ex.get_product("BTC-USD")  # cached with quote_increment 0.01
    fake.state.products["BTC-USD"].quote_increment = Decimal("1")
    with pytest.raises(OrderRejected) as info:
        ex.place_market_order(buy("r-4", "10.50"))
    assert info.value.code == "INVALID_SIZE_PRECISION"
    assert "increment" in info.value.reason


def test_delisted_product_is_rejected_as_invalid_product(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    ex.get_product("ETH-USD")
    del fake.state.products["ETH-USD"]
    with pytest.raises(OrderRejected) as info:
        ex.place_market_order(buy("r-5", "10", pair="ETH-USD"))
    assert info.value.code == "INVALID_PRODUCT_ID"
    assert fake.all_orders() == []


def test_unknown_and_unexplained_rejections_get_generic_readable_reasons() -> None:
    vague = order_rejected({"error": "UNKNOWN_FAILURE_REASON", "message": ""})
    assert vague.code == "UNKNOWN_FAILURE_REASON" and "without giving a reason" in vague.reason
    novel = order_rejected({"error": "BRAND_NEW_CODE", "message": "something odd"})
    assert novel.code == "BRAND_NEW_CODE"
    assert "something odd" in novel.reason and "no order was placed" in novel.reason


# ---- retries and faults ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "seconds"),
    [("429", 0.0), ("500", 0.0), ("503", 0.0), ("slow", 0.8), ("drop", 0.0), ("garbage", 0.0)],
)
def test_order_create_retries_transient_failures_without_doubling(
    ex: CoinbaseExchange, fake: FakeCoinbase, sleeps: list[float], kind: str, seconds: float
) -> None:
    fake.inject(kind, "/orders$", method="POST", count=2, seconds=seconds)  # type: ignore[arg-type]
    ack = ex.place_market_order(buy("t-1", "25"))
    assert fake.order_count("t-1") == 1
    assert ack.order_id == fake.orders_for("t-1")[0].order_id
    expected_attempts = 3 if kind in ("slow", "drop", "garbage") else 1  # 429/5xx answer before processing
    deadline = time.monotonic() + 3  # slow requests are still being served after the client gave up
    while fake.state.create_attempts["t-1"] < expected_attempts and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.state.create_attempts["t-1"] == expected_attempts
    assert fake.order_count("t-1") == 1
    backoffs = [s for s in sleeps if s > 0]
    if kind == "429":  # the stand-in sends Retry-After: 1, which wins over the shorter backoff
        assert backoffs == [1.0, 1.0]
    else:  # exponential: base 0.25 * 2**(n-1), half fixed + half jitter (jitter pinned at 0.5)
        assert backoffs == [pytest.approx(0.1875), pytest.approx(0.375)]


def test_retries_exhausted_raise_exchange_unavailable(
    ex: CoinbaseExchange, fake: FakeCoinbase, sleeps: list[float]
) -> None:
    fake.inject("drop", "/orders$", method="POST", count=None)
    with pytest.raises(ExchangeUnavailable) as info:
        ex.place_market_order(buy("t-2", "25"))
    assert info.value.retryable and "unknown" in info.value.reason
    assert fake.order_count("t-2") == 1
    assert fake.state.create_attempts["t-2"] == 4
    assert len([s for s in sleeps if s > 0]) == 3


def test_outage_on_reads_raises_exchange_unavailable(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.outage(60)
    with pytest.raises(ExchangeUnavailable):
        ex.get_fee_rates()
    assert fake.request_count("/transaction_summary") == 4


def test_stale_read_shows_open_then_filled(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    ack = ex.place_market_order(buy("st-1", "10"))
    fake.inject("stale", "/orders/historical", count=1, seconds=60)
    assert ex.get_order(ack.order_id).status == ExchangeOrderStatus.OPEN
    assert ex.get_order(ack.order_id).status == ExchangeOrderStatus.FILLED


# ---- authentication ------------------------------------------------------------------------------
def test_unregistered_key_raises_authentication_failed(make: Make) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        make(generate_ec_key()).get_balances()
    assert "key name" in info.value.reason and "secret" in info.value.reason


def test_expired_token_raises_authentication_failed(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.keys.clock_offset = 600  # the server sees the SDK's 120 s token as expired
    with pytest.raises(AuthenticationFailed):
        ex.get_fee_rates()
    assert fake.request_count("/transaction_summary") == 1  # never retried


def test_key_without_trade_permission_raises_authentication_failed(make: Make, fake: FakeCoinbase) -> None:
    k = generate_ec_key()
    fake.add_key(k.name, k.public_pem, can_trade=False)
    with pytest.raises(AuthenticationFailed) as info:
        make(k).place_market_order(buy("a-1", "10"))
    assert info.value.code == "PERMISSION_DENIED" and "trade" in info.value.reason


def test_malformed_secret_is_refused_at_construction(fake: FakeCoinbase) -> None:
    with pytest.raises(AuthenticationFailed):
        CoinbaseExchange(base_url=fake.base_url, api_key="k", api_secret="not a key")


def test_ed25519_key_from_key_file_via_settings(
    fake: FakeCoinbase, tmp_path: Path, sleeps: list[float]
) -> None:
    k = generate_ed25519_key()
    fake.add_key(k.name, k.public_pem)
    settings = load_settings(
        coinbase_base_url=fake.base_url,
        coinbase_key_file=k.write_key_file(tmp_path / "cdp_api_key.json"),
        coinbase_ca_cert=fake.cert_path,
        coinbase_timeout_seconds=0.5,
    )
    ex = CoinbaseExchange.from_settings(settings, sleep=sleeps.append)
    assert ex.get_balances()["USD"].available == Decimal("10000")


def test_untrusted_certificate_fails_without_retrying(fake: FakeCoinbase, key: TestKey) -> None:
    ex = CoinbaseExchange(
        base_url=fake.base_url,
        api_key=key.name,
        api_secret=key.private_key,
        timeout=0.5,
        sleep=lambda s: None,
    )
    ex._client.session.trust_env = False  # ignore any CA bundle in the environment
    with pytest.raises(ExchangeUnavailable, match="TLS"):
        ex.get_fee_rates()


# ---- exchange check --------------------------------------------------------------------------------
def test_exchange_check_reports_permissions_fees_and_skew(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    report = run_exchange_check(ex, "BTC-USD")
    assert report.ok and report.key_valid and report.can_trade and not report.can_transfer
    assert report.fee_rates is not None and report.fee_rates.taker == Decimal("0.006")
    assert report.product is not None and report.product.product_id == "BTC-USD"
    assert report.account_count == 4
    assert report.clock_skew_seconds is not None and abs(report.clock_skew_seconds) <= 2
    assert fake.request_count("/orders", method="POST") == 0
    assert "result: OK" in report.lines()


def test_exchange_check_flags_clock_skew(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.date_offset = 95
    report = run_exchange_check(ex)
    assert not report.ok
    assert report.clock_skew_seconds is not None and 93 <= report.clock_skew_seconds <= 97
    assert any("clock" in p for p in report.problems)


def test_exchange_check_reports_refused_key(make: Make) -> None:
    report = run_exchange_check(make(generate_ec_key()))
    assert not report.key_valid and not report.ok
    assert "key name" in report.problems[0]


def test_exchange_check_flags_key_that_cannot_trade(make: Make, fake: FakeCoinbase) -> None:
    k = generate_ec_key()
    fake.add_key(k.name, k.public_pem, can_trade=False)
    report = run_exchange_check(make(k))
    assert report.key_valid and not report.ok and report.can_trade is False


# ---- rate limiter ----------------------------------------------------------------------------------
class _Time:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_allows_burst_then_spaces_calls() -> None:
    t = _Time()
    bucket = TokenBucket(rate=10, burst=2, clock=lambda: t.now, sleep=t.sleep)
    waits = [bucket.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.1)]
    t.now += 1.0
    assert bucket.acquire() == 0.0


def test_token_bucket_is_thread_safe() -> None:
    t = _Time()
    lock = threading.Lock()
    bucket = TokenBucket(rate=5, burst=1, clock=lambda: 0.0, sleep=lambda s: None)
    waits: list[float] = []

    def worker() -> None:
        for _ in range(10):
            w = bucket.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.slept == []
    # 80 reservations at 5/s with one free token: distinct slots 0, 0.2, 0.4 … 15.8 s
    assert sorted(waits) == pytest.approx([i * 0.2 for i in range(80)])


def test_adapter_calls_go_through_the_rate_limiter(make: Make) -> None:
    t = _Time()
    ex = make(limiter=TokenBucket(rate=2, burst=1, clock=lambda: 0.0, sleep=t.sleep))
    ex.get_fee_rates()
    ex.get_fee_rates()
    ex.get_fee_rates()
    assert t.slept == [pytest.approx(0.5), pytest.approx(1.0)]


# ---- clock skew ----------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [200, -200])
def test_token_refused_for_clock_skew_names_the_skew_and_how_to_fix_it(
    ex: CoinbaseExchange, fake: FakeCoinbase, offset: int
) -> None:
    fake.set_clock_offset(offset)  # Coinbase's clock 200 s away from ours
    with pytest.raises(AuthenticationFailed) as info:
        ex.get_fee_rates()
    reason = info.value.reason
    assert info.value.code == "CLOCK_SKEW", reason
    assert "API key" not in reason  # not blamed on the key
    assert f"{offset:+d} s" in reason or f"{offset - 1:+d} s" in reason or f"{offset + 1:+d} s" in reason
    assert "time endpoint" in reason and "Date header" in reason
    assert "NTP" in reason  # how to fix it
    assert info.value.detail["time_endpoint_skew_seconds"] == pytest.approx(offset, abs=2)
    assert info.value.detail["date_header_skew_seconds"] == pytest.approx(offset, abs=2)


def test_refused_key_without_skew_is_still_blamed_on_the_key(make: Make, fake: FakeCoinbase) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        make(generate_ec_key()).get_balances()
    assert info.value.code == "UNAUTHENTICATED" and "key name" in info.value.reason


def test_exchange_check_checks_the_clock_first(ex: CoinbaseExchange, fake: FakeCoinbase) -> None:
    fake.set_clock_offset(200)
    report = run_exchange_check(ex, "BTC-USD")
    assert not report.ok
    assert report.clock_skew_seconds == pytest.approx(200, abs=2)
    assert "clock" in report.problems[0] and "NTP" in report.problems[0]
    lines = report.lines()
    assert lines[0].startswith("clock:") and "API key: REFUSED" not in lines
    assert fake.request_count("/key_permissions") == 0  # signed calls would only fail
