"""Fills recorded as Coinbase accounts them (issue 10): the stand-in's exchange state, driven in
process (no HTTP), in both response styles; its JSON goes through the real parser and the fill
accounting, and the resulting position must equal the account to the last decimal.

Property (Hypothesis, arbitrary-precision prices, quote sizes and increments): after every
settled trade

- position size + recorded dust = the account's base balance change, exactly;
- realised + unrealised(bid) = cash + size x bid - starting cash, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coinpilot.domain.exchange_values import ExchangeOrderStatus, FillReport, OrderSnapshot
from coinpilot.domain.position import PositionState, apply_entry, apply_exit
from coinpilot.domain.types import quantize_down
from coinpilot.exchange.coinbase_parse import parse_fill, parse_order
from coinpilot.exchange.fill_accounting import account_fills
from coinpilot.testing.fake_coinbase.market import FakeProduct
from coinpilot.testing.fake_coinbase.state import ExchangeState, FakeOrder, OrderFailure

D = Decimal
T0 = datetime(2026, 3, 1, tzinfo=UTC)
C0 = D("5000")


def _exchange(style: str, product: FakeProduct, partial_fills: int = 1) -> ExchangeState:
    state = ExchangeState(now=lambda: 1_770_000_000.0)
    state.fill_delay = 0.0  # fills are executed inside create_market_order
    state.partial_fills = partial_fills
    state.style = style
    state.add_product(product)
    state.set_balance("USD", C0)
    return state


def _accounted(order: FakeOrder) -> list[FillReport]:
    snap = parse_order(order.to_json())
    reports = [parse_fill(f.to_json(order.quote_size is not None)) for f in order.fills]
    fills = account_fills(snap, reports)
    assert fills is not None, "a finished order's fills must be complete"
    return fills


def _dust_below(p: FakeProduct) -> Decimal:
    return max(p.base_increment, p.base_min_size)


# ---- the parser and the fill accounting ------------------------------------------------------


def _quote_fill(value: str, price: str, fill_id: str = "f1") -> FillReport:
    return parse_fill(
        {
            "entry_id": fill_id,
            "order_id": "o1",
            "price": price,
            "size": value,
            "size_in_quote": True,
            "commission": "0.06",
            "trade_time": "2026-03-01T00:00:00Z",
        }
    )


def _snapshot(filled_size: str, filled_value: str, fees: str) -> OrderSnapshot:
    return OrderSnapshot(
        "o1",
        "c1",
        "BTC-USD",
        parse_order({"order_id": "o1", "side": "BUY"}).side,
        ExchangeOrderStatus.FILLED,
        filled_base=D(filled_size),
        filled_value=D(filled_value),
        total_fees=D(fees),
        number_of_fills=1,
    )


def test_quote_unit_fill_takes_its_base_from_the_orders_filled_size_not_a_quotient() -> None:
    # The example: $9.94 at 43,211.17 is 0.000230033114123038094... by division.
    fills = account_fills(_snapshot("0.00023003", "9.94", "0.06"), [_quote_fill("9.94", "43211.17")])
    assert fills is not None
    assert [f.base_size for f in fills] == [D("0.00023003")]
    assert [f.value for f in fills] == [D("9.94")]


def test_quote_unit_fills_split_the_orders_size_and_sum_to_it_exactly() -> None:
    snap = _snapshot("0.0002300331141230", "9.9403174603174603", "0.0596825396825397")
    parts = [
        _quote_fill("3.3134391534391534", "43211.17", "a"),
        _quote_fill("6.6268783068783069", "43211.18", "b"),
    ]
    fills = account_fills(snap, parts)
    assert fills is not None
    assert sum(f.base_size for f in fills) == D("0.0002300331141230")
    assert all(f.base_size > 0 and f.base_size.as_tuple().exponent >= -18 for f in fills)


def test_quote_unit_fill_list_short_of_the_orders_value_waits() -> None:
    snap = _snapshot("0.0002300331141230", "9.94", "0.06")
    assert account_fills(snap, [_quote_fill("3.31", "43211.17")]) is None


def test_base_fills_take_the_credited_value_of_the_order() -> None:
    # A sell of 0.00110318 at 38,890.07 is worth 42.903... ; Coinbase credits 42.90.
    fill = parse_fill(
        {
            "entry_id": "s1",
            "order_id": "o1",
            "price": "38890.07",
            "size": "0.00110318",
            "size_in_quote": False,
            "commission": "0.26",
            "trade_time": "2026-03-01T00:00:00Z",
        }
    )
    snap = _snapshot("0.00110318", "42.90", "0.26")
    fills = account_fills(snap, [fill])
    assert fills is not None
    assert [(f.base_size, f.value) for f in fills] == [(D("0.00110318"), D("42.90"))]


# ---- against the stand-in's accounting, both styles -------------------------------------------


@pytest.mark.parametrize("style", ["rounded", "raw"])
def test_quote_buys_then_sell_all_leave_position_equal_to_the_account(style: str) -> None:
    product = FakeProduct("BTC-USD", D("43211.17"))
    ex = _exchange(style, product, partial_fills=2)
    pos = PositionState()
    for i, quote in enumerate(["9.94", "11.37", "13.01", "9.99", "10.53", "12.77"]):
        order = ex.create_market_order(f"b{i}", "BTC-USD", "BUY", quote, None)
        pos = apply_entry(pos, _accounted(order), i + 1, T0)
        assert pos.base_size == ex.balances["BTC"]
    everything = quantize_down(pos.base_size, product.base_increment)
    order = ex.create_market_order("s", "BTC-USD", "SELL", None, str(everything))
    pos, _ = apply_exit(pos, _accounted(order), dust_below=_dust_below(product))
    assert pos.is_flat and pos.tranches == ()
    assert pos.dust_base_size == ex.balances["BTC"]
    if style == "rounded":
        assert ex.balances["BTC"] == 0
    assert pos.realized_pnl == ex.balances["USD"] - C0


# ---- the property ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    buy: bool
    quote: Decimal  # buys
    fraction: Decimal  # sells: share of the sellable size (1 = everything)
    price: Decimal


steps = st.builds(
    Step,
    buy=st.booleans(),
    quote=st.decimals(min_value="1", max_value="400", places=2),
    fraction=st.sampled_from([D(1), D("0.5"), D("0.37"), D("0.999")]),
    price=st.decimals(min_value="0.5", max_value="90000", places=8),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    style=st.sampled_from(["rounded", "raw"]),
    base_increment=st.sampled_from([D("0.00000001"), D("0.0001"), D("0.01")]),
    base_min=st.sampled_from([D("0.00000001"), D("0.001")]),
    price_increment=st.sampled_from([D("0.01"), D("0.0001"), D("0.00000001")]),
    fee_rate=st.sampled_from([D("0.006"), D("0.0025"), D(0)]),
    partial_fills=st.integers(min_value=1, max_value=3),
    plan=st.lists(steps, min_size=1, max_size=12),
)
def test_position_equals_account_and_pnl_reconciles_to_the_cash(
    style: str,
    base_increment: Decimal,
    base_min: Decimal,
    price_increment: Decimal,
    fee_rate: Decimal,
    partial_fills: int,
    plan: list[Step],
) -> None:
    product = FakeProduct(
        "BTC-USD",
        plan[0].price,
        base_increment=base_increment,
        base_min_size=max(base_min, base_increment),
        price_increment=price_increment,
        spread=price_increment * 2,
    )
    ex = _exchange(style, product, partial_fills)
    ex.taker_fee_rate = fee_rate
    pos = PositionState()
    for n, step in enumerate(plan):
        ex.set_price("BTC-USD", step.price)
        try:
            if step.buy:
                order = ex.create_market_order(f"o{n}", "BTC-USD", "BUY", str(step.quote), None)
                pos = apply_entry(pos, _accounted(order), n + 1, T0)
            else:
                sellable = quantize_down(pos.base_size, base_increment)
                size = (
                    sellable
                    if step.fraction == 1
                    else quantize_down(sellable * step.fraction, base_increment)
                )
                if size <= 0 or size < product.base_min_size:
                    continue
                order = ex.create_market_order(f"o{n}", "BTC-USD", "SELL", None, str(size))
                pos, _ = apply_exit(pos, _accounted(order), dust_below=_dust_below(product))
                assert pos.base_size == 0 or pos.base_size >= _dust_below(product)
        except OrderFailure:
            continue  # refused by the exchange: nothing happened
        bid = product.bid
        assert pos.base_size + pos.dust_base_size == ex.balances["BTC"]
        assert ex.holds["BTC"] == 0 and ex.holds["USD"] == 0
        with localcontext(Context(prec=80)):  # the test's own arithmetic must not round
            assert pos.realized_pnl + pos.unrealized_pnl(bid) == ex.balances["USD"] + pos.base_size * bid - C0
