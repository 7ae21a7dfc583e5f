"""The paper exchange's matching rules over in-memory balances: one implementation for mock mode
and for backtests.

Why in memory: a backtest places thousands of orders in a second; it must account them exactly
as mock mode does (same refusals, same prices, same rounding, same fees) without a database. The
paper adapter (:mod:`coinpilot.exchange.paper`) applies :func:`check_market_order` and
:func:`fill_market_order` and only persists their answer; :class:`SimulatedExchange` applies them
to a dict of balances.

Fill arithmetic (price ``p`` includes adverse slippage ``s`` and is quantised to the price
increment: buys round up, sells round down; fee rate ``r``):

- **Quote-sized market buy of Q** (fee included, Coinbase's identity kept exactly):
  ``p = ceil_to_tick(ask * (1 + s))``, ``base = floor_to_base_increment(Q / ((1 + r) * p))``,
  ``value = base * p``, ``fee = Q - value``. So ``value + fee == Q`` exactly.
- **Base-sized market sell of b**: ``p = floor_to_tick(bid * (1 - s))``, ``value = b * p``,
  ``fee = value * r`` (exact, not rounded); proceeds ``value - fee``.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from coinpilot.domain.evolve import build
from coinpilot.domain.market import Product
from coinpilot.domain.types import Side, quantize_down
from coinpilot.exchange.base import OrderRejected

BPS = Decimal(10000)
ZERO = Decimal(0)

__all__ = [
    "BPS",
    "SimulatedExchange",
    "SimulatedFill",
    "check_market_order",
    "fill_market_order",
    "is_multiple",
    "quantize",
    "reject",
    "reservation",
]


def quantize(value: Decimal, increment: Decimal, rounding: str) -> Decimal:
    steps = (value / increment).to_integral_value(rounding=rounding)
    return (steps * increment).quantize(increment)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    return increment <= 0 or value % increment == 0


def reject(code: str, reason: str, **detail: object) -> OrderRejected:
    return OrderRejected(reason, code=code, detail=dict(detail))


def reservation(
    pair: str, side: Side, quote_size: Decimal | None, base_size: Decimal | None
) -> tuple[str, Decimal]:
    """The currency and amount an order holds while it is open (the whole order)."""
    base_cur, quote_cur = pair.split("-", 1)
    if side is Side.BUY:
        assert quote_size is not None
        return quote_cur, quote_size
    assert base_size is not None
    return base_cur, base_size


def check_market_order(
    pair: str, side: Side, quote_size: Decimal | None, base_size: Decimal | None, product: Product
) -> None:
    """Refuse an order the way Coinbase would: status, sizing side, precision, minimums."""
    if not product.tradable:
        raise reject("INVALID_PRODUCT_ID", f"{pair} is not accepting orders right now")
    if side is Side.BUY:
        q = quote_size
        if q is None:
            raise reject(
                "UNSUPPORTED_ORDER_CONFIGURATION",
                "market buys are quote-sized: pass quote_size (USD to spend, fee included)",
            )
        if not is_multiple(q, product.quote_increment):
            raise reject(
                "INVALID_SIZE_PRECISION",
                f"quote size {q} has more decimals than {product.quote_increment}; "
                f"round it down to a multiple of {product.quote_increment}",
            )
        if q < product.quote_min_size or q <= 0:
            raise reject(
                "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
                f"quote size {q} is below the {pair} minimum of {product.quote_min_size}; "
                "buy at least that much",
            )
    else:
        b = base_size
        if b is None:
            raise reject(
                "UNSUPPORTED_ORDER_CONFIGURATION",
                f"market sells are base-sized: pass base_size (the {product.base_currency})",
            )
        if not is_multiple(b, product.base_increment):
            raise reject(
                "INVALID_SIZE_PRECISION",
                f"base size {b} has more decimals than {product.base_increment}; "
                f"round it down to a multiple of {product.base_increment}",
            )
        if b < product.base_min_size or b <= 0:
            raise reject(
                "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                f"base size {b} is below the {pair} minimum of {product.base_min_size}; "
                "sell at least that much",
            )


@dataclass(frozen=True)
class SimulatedFill:
    """A market order's fill: average price, base filled, quote value before the fee, the fee."""

    price: Decimal
    base_size: Decimal
    value: Decimal
    fee: Decimal


def fill_market_order(
    pair: str,
    side: Side,
    quote_size: Decimal | None,
    base_size: Decimal | None,
    product: Product,
    bid: Decimal,
    ask: Decimal,
    slippage: Decimal,
    fee_rate: Decimal,
) -> SimulatedFill | str:
    """The fill of a market order at this bid/ask, or the reason it cannot fill.

    ``slippage`` is a fraction (bps / 10,000). See the module docstring for the arithmetic.
    """
    tick = product.price_increment or product.quote_increment
    with localcontext() as ctx:
        ctx.prec = 60
        if side is Side.BUY:
            assert quote_size is not None
            price = quantize(ask * (1 + slippage), tick, ROUND_CEILING)
            base = quantize_down(quote_size / ((1 + fee_rate) * price), product.base_increment)
            if base <= 0 or base < product.base_min_size:
                return (
                    f"quote size {quote_size} buys less than the minimum "
                    f"{product.base_min_size} {product.base_currency} at {price}"
                )
            value = base * price
            fee = quote_size - value
        else:
            assert base_size is not None
            price = quantize(bid * (1 - slippage), tick, ROUND_FLOOR)
            if price <= 0:
                return f"no positive bid for {pair}"
            base = base_size
            value = base * price
            fee = value * fee_rate
    return build(SimulatedFill, price=price, base_size=base, value=value, fee=fee)


class SimulatedExchange:
    """Market orders filled at once against in-memory balances (a backtest's account).

    Mirrors the paper adapter with no fill delay: the order is checked like Coinbase would
    (:func:`check_market_order`), refused when the balance cannot hold it
    (``INSUFFICIENT_FUND``), and filled at the given bid/ask by :func:`fill_market_order`; the
    quote balance falls by exactly Q on a buy, the base balance by exactly b on a sell.
    """

    def __init__(
        self,
        product: Product,
        *,
        fee_rate: Decimal = Decimal("0.006"),
        slippage_bps: Decimal = Decimal(5),
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        if isinstance(fee_rate, float) or isinstance(slippage_bps, float):
            raise ValueError("fee_rate and slippage_bps must be Decimal, not float")
        if not ZERO <= fee_rate < 1 or slippage_bps < 0:
            raise ValueError("need 0 <= fee_rate < 1 and slippage_bps >= 0")
        self.product = product
        self.fee_rate = Decimal(fee_rate)
        self.slippage = Decimal(slippage_bps) / BPS
        start = {"USD": Decimal(1000)} if balances is None else balances
        self.balances: dict[str, Decimal] = {c.upper(): Decimal(v) for c, v in start.items()}

    def available(self, currency: str) -> Decimal:
        return self.balances.get(currency, ZERO)

    def place_market_order(
        self,
        side: Side,
        bid: Decimal,
        ask: Decimal,
        *,
        quote_size: Decimal | None = None,
        base_size: Decimal | None = None,
    ) -> SimulatedFill:
        """Fill now or raise :class:`OrderRejected` (balances untouched on a refusal)."""
        pair = self.product.product_id
        check_market_order(pair, side, quote_size, base_size, self.product)
        cur, amount = reservation(pair, side, quote_size, base_size)
        have = self.available(cur)
        if have < amount:
            raise reject(
                "INSUFFICIENT_FUND",
                f"not enough {cur}: this order needs {amount}, {have} is available; "
                "use a smaller size or wait for open orders to finish",
                needed=str(amount),
                available=str(have),
            )
        fill = fill_market_order(
            pair, side, quote_size, base_size, self.product, bid, ask, self.slippage, self.fee_rate
        )
        if isinstance(fill, str):
            raise reject("FILL_FAILED", fill)
        base_cur, quote_cur = pair.split("-", 1)
        self.balances[cur] = have - amount
        if side is Side.BUY:
            self.balances[base_cur] = self.available(base_cur) + fill.base_size
        else:
            self.balances[quote_cur] = self.available(quote_cur) + (fill.value - fill.fee)
        return fill
