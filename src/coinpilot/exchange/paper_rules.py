"""The paper exchange's pure rules: what Coinbase would refuse, what a fill costs, what an
open order holds. No database: :mod:`coinpilot.exchange.paper` applies them to its books.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.types import Side, quantize_down
from coinpilot.exchange.base import OrderRejected
from coinpilot.store.models import PaperOrder


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
    base_cur, quote_cur = pair.split("-", 1)
    if side is Side.BUY:
        assert quote_size is not None
        return quote_cur, quote_size
    assert base_size is not None
    return base_cur, base_size


def check_order(req: OrderRequest, product: Product) -> None:
    """Refuse an order the way Coinbase would: status, sizing side, precision, minimums."""
    if not product.tradable:
        raise reject("INVALID_PRODUCT_ID", f"{req.pair} is not accepting orders right now")
    if req.side is Side.BUY:
        q = req.quote_size
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
                f"quote size {q} is below the {req.pair} minimum of {product.quote_min_size}; "
                "buy at least that much",
            )
    else:
        b = req.base_size
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
                f"base size {b} is below the {req.pair} minimum of {product.base_min_size}; "
                "sell at least that much",
            )


def compute_fill(
    o: PaperOrder, product: Product | None, quote: BestBidAsk | None, slippage: Decimal, fee_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal] | str:
    """(price, base, filled_value, fee) for order ``o``, or a failure reason."""
    assert product is not None and quote is not None
    tick = product.price_increment or product.quote_increment
    with localcontext() as ctx:
        ctx.prec = 60
        if o.side is Side.BUY:
            assert o.quote_size is not None
            price = quantize(quote.ask * (1 + slippage), tick, ROUND_CEILING)
            base = quantize_down(o.quote_size / ((1 + fee_rate) * price), product.base_increment)
            if base <= 0 or base < product.base_min_size:
                return (
                    f"quote size {o.quote_size} buys less than the minimum "
                    f"{product.base_min_size} {product.base_currency} at {price}"
                )
            value = base * price
            fee = o.quote_size - value
        else:
            assert o.base_size is not None
            price = quantize(quote.bid * (1 - slippage), tick, ROUND_FLOOR)
            if price <= 0:
                return f"no positive bid for {o.pair}"
            base = o.base_size
            value = base * price
            fee = value * fee_rate
    return price, base, value, fee
