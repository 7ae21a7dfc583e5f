"""The in-memory simulated exchange: the paper exchange's matching rules over a dict of balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coinpilot.domain.types import Side
from coinpilot.exchange.base import OrderRejected
from coinpilot.exchange.replay import PRODUCTS
from coinpilot.exchange.simulated import SimulatedExchange, fill_market_order

D = Decimal
BTC = PRODUCTS["BTC-USD"]
ETH = PRODUCTS["ETH-USD"]


def test_a_quote_sized_buy_spends_exactly_its_size_and_credits_the_base() -> None:
    ex = SimulatedExchange(BTC, balances={"USD": D(100)})
    fill = ex.place_market_order(Side.BUY, D("19999.99"), D("20000.00"), quote_size=D(20))
    assert fill.price == D("20010.00")  # ask x (1 + 5 bps), rounded up to the cent
    assert fill.base_size == D("0.00099353")  # 20 / (1.006 x price), rounded down to the satoshi
    assert fill.value + fill.fee == D(20)
    assert ex.balances == {"USD": D(80), "BTC": fill.base_size}


def test_a_base_sized_sell_credits_the_proceeds_after_the_fee() -> None:
    ex = SimulatedExchange(BTC, balances={"USD": D(0), "BTC": D("0.01")})
    fill = ex.place_market_order(Side.SELL, D("20000.00"), D("20000.01"), base_size=D("0.005"))
    assert fill.price == D("19990.00")  # bid x (1 - 5 bps), rounded down
    assert fill.value == D("99.95") and fill.fee == D("0.5997")
    assert ex.balances == {"USD": D("99.3503"), "BTC": D("0.005")}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"side": Side.BUY, "quote_size": D(200)}, "INSUFFICIENT_FUND"),
        ({"side": Side.BUY, "quote_size": D("10.001")}, "INVALID_SIZE_PRECISION"),
        ({"side": Side.BUY, "quote_size": D("0.50")}, "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        ({"side": Side.SELL, "base_size": D("0.01")}, "INSUFFICIENT_FUND"),
    ],
)
def test_refusals_leave_the_balances_untouched(kwargs: dict[str, object], code: str) -> None:
    ex = SimulatedExchange(BTC, balances={"USD": D(100)})
    side = kwargs.pop("side")
    assert isinstance(side, Side)
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(side, D(20000), D("20000.01"), **kwargs)  # type: ignore[arg-type]
    assert err.value.code == code
    assert ex.balances == {"USD": D(100)}


def test_a_sell_below_the_product_minimum_is_refused() -> None:
    ex = SimulatedExchange(ETH, balances={"ETH": D(1)})
    with pytest.raises(OrderRejected) as err:
        ex.place_market_order(Side.SELL, D(2000), D("2000.01"), base_size=D("0.0005"))
    assert err.value.code == "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"


def test_a_buy_too_small_for_the_base_minimum_fails_to_fill() -> None:
    result = fill_market_order("ETH-USD", Side.BUY, D("1.00"), None, ETH, D(2000), D("2000.01"), D(0), D(0))
    assert isinstance(result, str) and "less than the minimum" in result
