"""The one interface every exchange adapter implements, plus the errors they raise.

The engine only ever talks to :class:`Exchange`; live, mock and backtest differ only in which
adapter (and which clock) is plugged in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from coinpilot.domain.exchange_values import (
    Balance,
    FeeRates,
    FillReport,
    OrderAck,
    OrderRequest,
    OrderSnapshot,
)
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity, TradingMode


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
