"""The paper exchange against a real database (SQLite by default, PostgreSQL via
COINPILOT_TEST_DATABASE)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.exchange_values import ExchangeOrderStatus, OrderAck, OrderRequest
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity, Side, TradingMode
from coinpilot.exchange.base import Exchange, ExchangeError, OrderNotFound, OrderRejected, ProductNotFound
from coinpilot.exchange.paper import PaperExchange
from coinpilot.exchange.replay import PRODUCTS, ReplayMarketData
from coinpilot.store.models import PaperFill, PaperOrder

D = Decimal
CENT = D("0.01")
SAT = D("0.00000001")
FEE = D("0.006")


class FixedMarket:
    """Market data with prices the test sets; no candles."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.quotes = {"BTC-USD": (D("50000.00"), D("50010.00")), "ETH-USD": (D("3000.00"), D("3000.60"))}

    def list_products(self) -> list[Product]:
        return list(PRODUCTS.values())

    def get_product(self, pair: str) -> Product:
        if pair not in PRODUCTS:
            raise ProductNotFound(f"unknown {pair}", code="INVALID_PRODUCT_ID")
        return PRODUCTS[pair]

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        return Candles.empty(pair, granularity)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        out = {}
        for p in pairs:
            if p not in self.quotes:
                raise ExchangeError(f"no price for {p}", code="NO_MARKET_DATA")
            bid, ask = self.quotes[p]
            out[p] = BestBidAsk(p, bid, ask, self.clock.now())
        return out


@pytest.fixture
def market(clock: FakeClock) -> FixedMarket:
    return FixedMarket(clock)


def paper(sf: sessionmaker[Session], market: Any, clock: FakeClock, **kw: Any) -> PaperExchange:
    kw.setdefault("fill_delay_seconds", 0)
    kw.setdefault("starting_balances", {"USD": D("1000")})
    return PaperExchange(sf, market, clock, **kw)


def buy(coid: str, quote: str, pair: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(coid, pair, Side.BUY, quote_size=D(quote))


def sell(coid: str, base: str, pair: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(coid, pair, Side.SELL, base_size=D(base))


def available(ex: PaperExchange) -> dict[str, Decimal]:
    return {c: b.available for c, b in ex.get_balances().items()}


def count_orders(sf: sessionmaker[Session]) -> int:
    with sf() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(PaperOrder)) or 0)


def test_paper_exchange_is_a_mock_mode_exchange(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock)
    assert isinstance(ex, Exchange)
    assert ex.mode is TradingMode.MOCK
    fees = ex.get_fee_rates()
    assert fees.taker == fees.maker == FEE


def test_first_use_seeds_the_starting_balance(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, starting_balances={"USD": D("1234.56")})
    bal = ex.get_balances()
    assert bal["USD"].available == D("1234.56") and bal["USD"].hold == 0
    # a second instance does not seed again
    paper(session_factory, market, clock, starting_balances={"USD": D("99")}).get_balances()
    assert available(ex)["USD"] == D("1234.56")


def test_quote_sized_buy_keeps_value_plus_fee_equal_to_the_quote_size(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, slippage_bps=D("5"))
    ack = ex.place_market_order(buy("b1", "100.00"))
    o = ex.get_order(ack.order_id)
    assert o.status is ExchangeOrderStatus.FILLED
    price = (D("50010.00") * D("1.0005")).quantize(CENT, rounding=ROUND_CEILING)
    base = (D("100.00") / (1 + FEE) / price).quantize(SAT, rounding=ROUND_DOWN)
    assert o.average_price == price
    assert o.filled_base == base
    assert o.filled_value == base * price
    assert o.filled_value + o.total_fees == D("100.00")
    # the fee is the nominal rate plus at most one satoshi's worth of rounding dust
    assert o.filled_value * FEE <= o.total_fees < o.filled_value * FEE + price * SAT * 2
    bal = available(ex)
    assert bal["USD"] == D("900.00")
    assert bal["BTC"] == base


def test_sell_credits_proceeds_minus_fee(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, starting_balances={"USD": D("0"), "BTC": D("0.5")})
    ack = ex.place_market_order(sell("s1", "0.1"))
    o = ex.get_order(ack.order_id)
    price = (D("50000.00") * D("0.9995")).quantize(CENT, rounding=ROUND_FLOOR)
    assert o.status is ExchangeOrderStatus.FILLED
    assert (o.average_price, o.filled_base) == (price, D("0.1"))
    assert o.filled_value == D("0.1") * price
    assert o.total_fees == o.filled_value * FEE
    bal = available(ex)
    assert bal["BTC"] == D("0.4")
    assert bal["USD"] == o.filled_value - o.total_fees


def test_balances_change_by_exactly_the_fills(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock)
    before = available(ex)
    a = ex.get_order(ex.place_market_order(buy("r1", "250.00")).order_id)
    b = ex.get_order(ex.place_market_order(sell("r2", str(a.filled_base / 2))).order_id)
    after = available(ex)
    fills = ex.get_fills(a.order_id) + ex.get_fills(b.order_id)
    assert len(fills) == 2
    usd_delta = -(fills[0].price * fills[0].base_size + fills[0].fee) + (
        fills[1].price * fills[1].base_size - fills[1].fee
    )
    assert after["USD"] - before["USD"] == usd_delta
    assert after["BTC"] == fills[0].base_size - fills[1].base_size


def test_slippage_is_adverse_for_both_sides(session_factory, market, clock) -> None:
    ex = paper(
        session_factory,
        market,
        clock,
        slippage_bps=D("20"),
        starting_balances={"USD": D("1000"), "BTC": D("1")},
    )
    b = ex.get_order(ex.place_market_order(buy("sl1", "50.00")).order_id)
    s = ex.get_order(ex.place_market_order(sell("sl2", "0.01")).order_id)
    assert b.average_price is not None and s.average_price is not None
    assert b.average_price > D("50010.00")
    assert s.average_price < D("50000.00")


def test_zero_slippage_fills_at_the_quote(session_factory, market, clock) -> None:
    ex = paper(
        session_factory,
        market,
        clock,
        slippage_bps=D("0"),
        starting_balances={"USD": D("1000"), "BTC": D("1")},
    )
    b = ex.get_order(ex.place_market_order(buy("z1", "50.00")).order_id)
    s = ex.get_order(ex.place_market_order(sell("z2", "0.01")).order_id)
    assert (b.average_price, s.average_price) == (D("50010.00"), D("50000.00"))


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (buy("x1", "10.001"), "INVALID_SIZE_PRECISION"),
        (sell("x2", "0.000000001"), "INVALID_SIZE_PRECISION"),
        (buy("x3", "0.99"), "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        (sell("x4", "0"), "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
        (buy("x5", "10.00", pair="DOGE-USD"), "INVALID_PRODUCT_ID"),
        (buy("x6", "1000.01"), "INSUFFICIENT_FUND"),
        (sell("x7", "0.50000001"), "INSUFFICIENT_FUND"),
        (OrderRequest("x8", "BTC-USD", Side.BUY, base_size=D("0.1")), "UNSUPPORTED_ORDER_CONFIGURATION"),
    ],
)
def test_invalid_orders_are_rejected_without_touching_balances(
    session_factory, market, clock, request_: OrderRequest, code: str
) -> None:
    ex = paper(session_factory, market, clock, starting_balances={"USD": D("1000"), "BTC": D("0.5")})
    before = ex.get_balances()
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(request_)
    assert err.value.code == code
    assert len(err.value.reason) > 20
    assert ex.get_balances() == before
    assert count_orders(session_factory) == 0


def test_insufficient_funds_reason_says_what_is_available(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock)
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(buy("big", "5000.00"))
    assert "5000.00" in err.value.reason and "1000" in err.value.reason


def test_no_market_price_rejects_the_order(session_factory, market, clock) -> None:
    del market.quotes["ETH-USD"]
    ex = paper(session_factory, market, clock)
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(buy("np", "10.00", pair="ETH-USD"))
    assert err.value.code == "NO_MARKET_PRICE"
    assert count_orders(session_factory) == 0


def test_replaying_a_client_order_id_returns_the_original_and_creates_nothing(
    session_factory, market, clock
) -> None:
    ex = paper(session_factory, market, clock)
    first = ex.place_market_order(buy("same", "100.00"))
    usd = available(ex)["USD"]
    again = ex.place_market_order(buy("same", "100.00"))
    other_params = ex.place_market_order(buy("same", "300.00", pair="ETH-USD"))
    assert again == first == other_params
    assert count_orders(session_factory) == 1
    assert available(ex)["USD"] == usd == D("900.00")


def test_order_fills_asynchronously_once_the_fake_clock_passes_the_delay(
    session_factory, market, clock
) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=0.2)
    ack = ex.place_market_order(buy("a1", "100.00"))
    o = ex.get_order(ack.order_id)
    assert o.status is ExchangeOrderStatus.OPEN and o.filled_base == 0
    assert ex.get_fills(ack.order_id) == []
    bal = ex.get_balances()["USD"]
    assert (bal.available, bal.hold) == (D("900.00"), D("100.00"))
    clock.advance(0.199)
    assert ex.get_order(ack.order_id).status is ExchangeOrderStatus.OPEN
    clock.advance(0.001)
    o = ex.get_order(ack.order_id)
    assert o.status is ExchangeOrderStatus.FILLED and o.number_of_fills == 1
    assert o.last_fill_at == clock.now()
    assert ex.get_balances()["USD"].hold == 0


def test_process_due_fills_every_due_order(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1)
    ids = [ex.place_market_order(buy(f"p{i}", "10.00")).order_id for i in range(3)]
    assert ex.process_due() == 0
    clock.advance(1)
    assert ex.process_due() == 3
    assert ex.process_due() == 0
    assert {o.status for o in ex.get_orders(ids)} == {ExchangeOrderStatus.FILLED}


def test_get_fills_fills_a_due_order(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1)
    ack = ex.place_market_order(buy("gf", "10.00"))
    clock.advance(5)
    fills = ex.get_fills(ack.order_id)
    assert len(fills) == 1 and fills[0].liquidity == "TAKER" and fills[0].order_id == ack.order_id


def test_fill_uses_the_price_at_fill_time(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1, slippage_bps=D("0"))
    ack = ex.place_market_order(buy("ft", "10.00"))
    market.quotes["BTC-USD"] = (D("40000.00"), D("40001.00"))
    clock.advance(1)
    assert ex.get_order(ack.order_id).average_price == D("40001.00")


def test_held_funds_cannot_be_spent_twice(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=10)
    ex.place_market_order(buy("h1", "600.00"))
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(buy("h2", "600.00"))
    assert err.value.code == "INSUFFICIENT_FUND"


def test_cancel_releases_the_hold_of_an_open_order(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=10)
    ack = ex.place_market_order(buy("c1", "400.00"))
    assert ex.cancel_orders([ack.order_id, "nope"]) == {ack.order_id: True, "nope": False}
    assert ex.get_order(ack.order_id).status is ExchangeOrderStatus.CANCELLED
    bal = ex.get_balances()["USD"]
    assert (bal.available, bal.hold) == (D("1000"), D(0))
    clock.advance(20)
    assert ex.get_order(ack.order_id).status is ExchangeOrderStatus.CANCELLED


def test_cancel_after_the_fill_is_due_finds_it_filled(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1)
    ack = ex.place_market_order(buy("c2", "100.00"))
    clock.advance(1)
    assert ex.cancel_orders([ack.order_id]) == {ack.order_id: False}
    assert ex.get_order(ack.order_id).status is ExchangeOrderStatus.FILLED


def test_order_fails_and_releases_the_hold_when_the_price_disappears(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1)
    ack = ex.place_market_order(buy("f1", "100.00", pair="ETH-USD"))
    del market.quotes["ETH-USD"]
    clock.advance(1)
    o = ex.get_order(ack.order_id)
    assert o.status is ExchangeOrderStatus.FAILED and o.reject_reason
    assert available(ex)["USD"] == D("1000")


def test_unknown_order_is_not_found(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock)
    with pytest.raises(OrderNotFound):
        ex.get_order("does-not-exist")
    assert ex.get_fills("does-not-exist") == []
    assert ex.get_orders([]) == []


def test_orders_survive_a_new_exchange_instance_on_the_same_database(session_factory, market, clock) -> None:
    first = paper(session_factory, market, clock, fill_delay_seconds=1)
    filled = first.place_market_order(buy("keep1", "100.00"))
    clock.advance(1)
    first.process_due()
    pending = first.place_market_order(buy("keep2", "50.00"))
    balances = first.get_balances()
    del first

    second = paper(session_factory, market, clock, fill_delay_seconds=1)
    assert second.get_order(filled.order_id).status is ExchangeOrderStatus.FILLED
    assert second.get_balances() == balances
    assert second.place_market_order(buy("keep1", "100.00")) == filled
    clock.advance(1)
    assert second.get_order(pending.order_id).status is ExchangeOrderStatus.FILLED
    assert available(second)["USD"] == D("850.00")


def test_concurrent_placement_of_one_client_order_id_creates_one_order(
    session_factory, market, clock
) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=1)
    ex.get_balances()  # seed
    n = 8
    barrier = threading.Barrier(n)
    acks: list[OrderAck] = []
    errors: list[BaseException] = []

    def place() -> None:
        try:
            barrier.wait(timeout=10)
            acks.append(ex.place_market_order(buy("race", "100.00")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=place) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(acks) == n and len(set(acks)) == 1
    assert count_orders(session_factory) == 1
    assert ex.get_balances()["USD"].hold == D("100.00")


def test_concurrent_buys_cannot_overspend(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock)
    ex.get_balances()
    n = 10
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def place(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            ex.place_market_order(buy(f"ov{i}", "200.00"))
            outcomes.append("ok")
        except OrderRejected as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=place, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["INSUFFICIENT_FUND"] * 5 + ["ok"] * 5
    assert available(ex)["USD"] == 0
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PaperFill)) == 5


def test_fills_against_the_replayed_price_the_bots_see(session_factory) -> None:
    clock = FakeClock(datetime(2018, 3, 1, 0, 30, tzinfo=UTC))
    replay = ReplayMarketData(clock)
    ex = PaperExchange(session_factory, replay, clock, slippage_bps=D("5"), fill_delay_seconds=0.2)
    ack = ex.place_market_order(buy("rp", "100.00"))
    clock.advance(timedelta(seconds=0.2).total_seconds())
    ask = replay.get_best_bid_ask(["BTC-USD"])["BTC-USD"].ask
    o = ex.get_order(ack.order_id)
    assert o.average_price == (ask * D("1.0005")).quantize(CENT, rounding=ROUND_CEILING)
    assert o.filled_value + o.total_fees == D("100.00")
    assert ex.get_product("BTC-USD") == replay.get_product("BTC-USD")


def test_random_quote_buys_and_sells_keep_coinbase_identities_and_exact_balances(
    session_factory, market, clock
) -> None:
    import random

    rng = random.Random(20240301)
    ex = paper(session_factory, market, clock, starting_balances={"USD": D("1000000")})
    for i in range(25):
        bid = D(rng.randint(100_00, 90_000_00)) / 100
        market.quotes["BTC-USD"] = (bid, bid + D(rng.randint(1, 500)) / 100)
        before = available(ex)
        q = D(rng.randint(100, 500_000)) / 100
        o = ex.get_order(ex.place_market_order(buy(f"rb{i}", str(q))).order_id)
        assert o.filled_value + o.total_fees == q
        assert o.average_price is not None and o.filled_base * o.average_price == o.filled_value
        assert o.filled_base == o.filled_base.quantize(SAT)
        assert o.total_fees >= o.filled_value * FEE
        mid = available(ex)
        assert before["USD"] - mid["USD"] == q
        assert mid["BTC"] - before.get("BTC", D(0)) == o.filled_base
        part = (o.filled_base * D(rng.randint(1, 100)) / 100).quantize(SAT, rounding=ROUND_DOWN)
        if part > 0:
            s = ex.get_order(ex.place_market_order(sell(f"rs{i}", str(part))).order_id)
            after = available(ex)
            assert after["USD"] - mid["USD"] == s.filled_value - s.total_fees
            assert mid["BTC"] - after["BTC"] == part


def test_balances_can_be_read_for_just_the_currencies_an_order_needs(session_factory, market, clock) -> None:
    ex = paper(session_factory, market, clock, fill_delay_seconds=5)
    ex.place_market_order(buy("b1", "100"))
    ex.place_market_order(buy("e1", "50", pair="ETH-USD"))
    clock.advance(10)
    ex.process_due()
    ex.place_market_order(buy("b2", "10"))  # still open: its $10 is held
    everything = ex.get_balances()
    only = ex.get_balances(["BTC", "USD"])
    assert set(only) == {"BTC", "USD"}
    assert "ETH" in everything
    assert only["USD"] == everything["USD"]
    assert only["USD"].hold == Decimal("10")
    assert only["BTC"] == everything["BTC"]
