"""The one interface every exchange adapter implements, plus the errors they raise.

The engine only ever talks to :class:`Exchange`; live, mock and backtest differ only in which
adapter (and which clock) is plugged in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity, Side, TradingMode


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


class ExchangeError(Exception):
    """Base class. ``reason`` is a sentence a user can act on; ``code`` is machine-readable."""

    retryable = False

    def __init__(self, reason: str, code: str = "EXCHANGE_ERROR", detail: dict[str, object] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.detail = detail or {}


class OrderRejected(ExchangeError):
    """The exchange refused the order (HTTP 200 + success:false): no order exists."""


class OrderNotFound(ExchangeError):
    """The exchange has no order with that id."""


class ProductNotFound(ExchangeError):
    """Unknown trading pair."""


class ExchangeUnavailable(ExchangeError):
    """Transient failure after retries (timeout, 429, 5xx, connection). For an order create the
    outcome is UNKNOWN: the caller must keep the trade PENDING and reconcile by replaying the same
    client_order_id."""

    retryable = True


class AuthenticationFailed(ExchangeError):
    """Keys missing, malformed or refused (401/403)."""


class ProductionGuardError(RuntimeError):
    """Raised when something tries to reach a real exchange from a test or without permission."""


@runtime_checkable
class MarketData(Protocol):
    def list_products(self) -> list[Product]: ...

    def get_product(self, pair: str) -> Product: ...

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        """Oldest-first candles whose start lies in [start, end)."""
        ...

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]: ...


@runtime_checkable
class Exchange(MarketData, Protocol):
    @property
    def mode(self) -> TradingMode: ...

    def place_market_order(self, request: OrderRequest) -> OrderAck:
        """Idempotent on ``client_order_id``: a repeated id returns the original order.

        Raises OrderRejected (nothing was created), ExchangeUnavailable (outcome unknown)."""
        ...

    def get_order(self, order_id: str) -> OrderSnapshot: ...

    def get_orders(self, order_ids: Sequence[str]) -> list[OrderSnapshot]:
        """Batch lookup (one request where the exchange allows it)."""
        ...

    def find_order(self, pair: str, client_order_id: str, around: datetime) -> OrderSnapshot | None:
        """The order with this ``client_order_id``, created near ``around``, or None if the
        exchange has none. Read-only: unlike a re-send it can never create the order."""
        ...

    def get_fills(self, order_id: str) -> list[FillReport]: ...

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]: ...

    def get_balances(self, currencies: Sequence[str] | None = None) -> dict[str, Balance]:
        """Balances per currency; with ``currencies``, only those (the order path needs two)."""
        ...

    def get_fee_rates(self) -> FeeRates: ...


@dataclass
class CallCounter:
    """Counts calls per endpoint: benchmarks and tests use it to prove calls grow with pairs."""

    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())
