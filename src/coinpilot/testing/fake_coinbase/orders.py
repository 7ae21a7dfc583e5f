"""The stand-in's order and fill records and the JSON Coinbase sends for them.

Split out of ``state.py`` (which holds the accounts and the order book's behaviour): these are
the plain records an order leaves behind, :class:`FakeOrder` and :class:`FakeFill`, with their
Advanced Trade response shapes, and :class:`OrderFailure`, a business refusal of an order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from coinpilot.testing.fake_coinbase.market import fmt


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeFill:
    entry_id: str
    trade_id: str
    order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal  # base, as the account was credited/debited
    commission: Decimal  # quote
    trade_time: float
    value: Decimal = Decimal(0)  # quote value excluding the fee, as accounted

    def to_json(self, size_in_quote: bool) -> dict[str, object]:
        return {
            "entry_id": self.entry_id,
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "trade_time": _iso(self.trade_time),
            "trade_type": "FILL",
            "price": fmt(self.price),
            "size": fmt(self.value) if size_in_quote else fmt(self.size),
            "commission": fmt(self.commission),
            "product_id": self.product_id,
            "sequence_timestamp": _iso(self.trade_time),
            "liquidity_indicator": "TAKER",
            "size_in_quote": size_in_quote,
            "user_id": "fake-user",
            "side": self.side,
            "retail_portfolio_id": "fake-portfolio",
        }


@dataclass
class FakeOrder:
    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY / SELL
    quote_size: Decimal | None
    base_size: Decimal | None
    created: float
    status: str = "OPEN"
    reject_reason: str = ""
    fills: list[FakeFill] = field(default_factory=list)
    schedule: list[tuple[float, Decimal]] = field(default_factory=list)  # (due monotonic, share)
    fail_at: float | None = None
    filled_at: float | None = None  # wall time of the last fill
    hold_left: Decimal = Decimal(0)  # what is still on hold for this order
    price_quantum: Decimal = Decimal("0.01")  # average_filled_price precision (style)

    @property
    def filled_size(self) -> Decimal:
        return sum((f.size for f in self.fills), Decimal(0))

    @property
    def filled_value(self) -> Decimal:
        return sum((f.value for f in self.fills), Decimal(0))

    @property
    def total_fees(self) -> Decimal:
        return sum((f.commission for f in self.fills), Decimal(0))

    def to_json(self, stale: bool = False) -> dict[str, object]:
        status, fills = self.status, self.fills
        if stale and status == "FILLED":
            status, fills = "OPEN", []
        filled_size = sum((f.size for f in fills), Decimal(0))
        value = sum((f.value for f in fills), Decimal(0))
        fees = sum((f.commission for f in fills), Decimal(0))
        avg = (value / filled_size).quantize(self.price_quantum) if filled_size else Decimal(0)
        ioc: dict[str, str] = {}
        if self.quote_size is not None:
            ioc["quote_size"] = fmt(self.quote_size)
        if self.base_size is not None:
            ioc["base_size"] = fmt(self.base_size)
        after = value + fees if self.side == "BUY" else value - fees
        return {
            "order_id": self.order_id,
            "product_id": self.product_id,
            "user_id": "fake-user",
            "order_configuration": {"market_market_ioc": ioc},
            "side": self.side,
            "client_order_id": self.client_order_id,
            "status": status,
            "time_in_force": "IMMEDIATE_OR_CANCEL",
            "created_time": _iso(self.created),
            "completion_percentage": "100" if status == "FILLED" else "0",
            "filled_size": fmt(filled_size),
            "average_filled_price": fmt(avg),
            "fee": "",
            "number_of_fills": str(len(fills)),
            "filled_value": fmt(value),
            "pending_cancel": False,
            "size_in_quote": self.quote_size is not None,
            "total_fees": fmt(fees),
            "size_inclusive_of_fees": self.quote_size is not None,
            "total_value_after_fees": fmt(after),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "MARKET",
            "reject_reason": self.reject_reason,
            "settled": status == "FILLED",
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": fmt(self.hold_left),
            "is_liquidation": False,
            "last_fill_time": _iso(fills[-1].trade_time) if fills else None,
            "edit_history": [],
            "leverage": "",
            "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": "fake-portfolio",
        }


class OrderFailure(Exception):
    """A business failure: HTTP 200 with success:false."""

    def __init__(self, error: str, message: str, preview: str = "", new_order: str = ""):
        super().__init__(message)
        self.error, self.message = error, message
        self.preview, self.new_order = preview, new_order
