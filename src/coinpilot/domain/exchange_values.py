"""The values an exchange and the ledger exchange: order requests and acknowledgements, order
snapshots, fills, fee rates and balances.

Plain frozen values, in the domain so that ``store/`` (which records fills and reads balances) and
``exchange/`` (whose adapters produce them) both depend on the domain and never on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from coinpilot.domain.types import Side

__all__ = [
    "Balance",
    "ExchangeOrderStatus",
    "FeeRates",
    "FillReport",
    "OrderAck",
    "OrderRequest",
    "OrderSnapshot",
]


class ExchangeOrderStatus(StrEnum):
    """Order statuses as Coinbase reports them."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    QUEUED = "QUEUED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    CANCEL_QUEUED = "CANCEL_QUEUED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN_ORDER_STATUS"

    @property
    def is_done(self) -> bool:
        return self in {self.FILLED, self.CANCELLED, self.EXPIRED, self.FAILED}


@dataclass(frozen=True)
class OrderRequest:
    """A market order. Exactly one of ``quote_size`` (buys) / ``base_size`` (sells) is set."""

    client_order_id: str
    pair: str
    side: Side
    quote_size: Decimal | None = None
    base_size: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.quote_size is None) == (self.base_size is None):
            raise ValueError("exactly one of quote_size / base_size must be set")


@dataclass(frozen=True)
class OrderAck:
    order_id: str
    client_order_id: str
    pair: str
    side: Side


@dataclass(frozen=True)
class FillReport:
    fill_id: str  # Coinbase entry_id: unique per fill
    order_id: str
    price: Decimal
    base_size: Decimal
    fee: Decimal  # quote currency
    liquidity: str  # MAKER / TAKER / UNKNOWN
    time: datetime
    # The quote value before fees as the exchange accounted it (None: base_size * price).
    value: Decimal | None = None
    # Coinbase reported the size in quote units: ``base_size`` is not known from the fill
    # alone and comes from the order's filled size (see ``fill_accounting.account_fills``).
    size_in_quote: bool = False


@dataclass(frozen=True)
class OrderSnapshot:
    """What the exchange says about an order right now (may be stale)."""

    order_id: str
    client_order_id: str
    pair: str
    side: Side
    status: ExchangeOrderStatus
    filled_base: Decimal = Decimal(0)
    average_price: Decimal | None = None
    filled_value: Decimal = Decimal(0)  # quote, excluding fees
    total_fees: Decimal = Decimal(0)  # quote
    number_of_fills: int = 0
    reject_reason: str | None = None
    created_at: datetime | None = None
    last_fill_at: datetime | None = None


@dataclass(frozen=True)
class FeeRates:
    maker: Decimal
    taker: Decimal
    tier: str = ""


@dataclass(frozen=True)
class Balance:
    currency: str
    available: Decimal
    hold: Decimal = Decimal(0)
