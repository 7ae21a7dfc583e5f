"""The paper exchange's pure rules: what Coinbase would refuse, what a fill costs, what an
open order holds. No database: :mod:`coinpilot.exchange.paper` applies them to its books.

The rules themselves live in :mod:`coinpilot.exchange.simulated` (shared with the backtester's
in-memory exchange, so mock mode and backtests fill alike); this module adapts them to the paper
book's rows.
"""

from __future__ import annotations

from decimal import Decimal

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.exchange.simulated import (
    check_market_order,
    fill_market_order,
    is_multiple,
    quantize,
    reject,
    reservation,
)
from coinpilot.store.models import PaperOrder

__all__ = ["check_order", "compute_fill", "is_multiple", "quantize", "reject", "reservation"]


def check_order(req: OrderRequest, product: Product) -> None:
    """Refuse an order the way Coinbase would: status, sizing side, precision, minimums."""
    check_market_order(req.pair, req.side, req.quote_size, req.base_size, product)


def compute_fill(
    o: PaperOrder, product: Product | None, quote: BestBidAsk | None, slippage: Decimal, fee_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal] | str:
    """(price, base, filled_value, fee) for order ``o``, or a failure reason."""
    assert product is not None and quote is not None
    fill = fill_market_order(
        o.pair, o.side, o.quote_size, o.base_size, product, quote.bid, quote.ask, slippage, fee_rate
    )
    if isinstance(fill, str):
        return fill
    return fill.price, fill.base_size, fill.value, fill.fee
