"""Accounts, orders and fills of the stand-in, with delayed (optionally partial) market fills.

Amounts are accounted the way Coinbase accounts them, in one of two response styles:
``rounded`` (values and fees on the cent, base sizes on the product's increment) or ``raw``
(16-decimal strings, as the live API sends). A quote-sized buy credits the account with the
order's ``filled_size`` (never a quotient on the client's side), its fills report ``size`` in
quote units (``size_in_quote``), and ``filled_value + total_fees`` equals the quote size. A sell
credits ``value - fee`` with the value rounded as in the style, not ``size * price``.

Fills are applied lazily: every request and every inspection first calls :meth:`advance`,
which executes the fills whose time has come. Time is the wall clock (``time.monotonic`` for
scheduling), so tests use short delays.

The order and fill records and their JSON are in :mod:`.orders` (re-exported here).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from coinpilot.domain.types import quantize_down
from coinpilot.testing.fake_coinbase.market import FakeProduct
from coinpilot.testing.fake_coinbase.orders import FakeFill, FakeOrder, OrderFailure

RAW_QUANTUM = Decimal("1e-16")  # the live API's 16-decimal strings


class ExchangeState:
    """Everything the stand-in knows. All public methods are thread-safe."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self._now = now
        self.products: dict[str, FakeProduct] = {}
        self.balances: dict[str, Decimal] = {}
        self.holds: dict[str, Decimal] = {}
        self.account_ids: dict[str, str] = {}
        self.orders: dict[str, FakeOrder] = {}
        self.by_client_id: dict[str, str] = {}
        self.create_attempts: dict[str, int] = {}
        self.taker_fee_rate = Decimal("0.006")
        self.maker_fee_rate = Decimal("0.004")
        self.pricing_tier = "Advanced 1"
        self.fill_delay = 0.05
        self.partial_fills = 1
        self.fail_next: list[str] = []  # reject reasons for the next accepted orders
        self.clock_offset = 0.0  # seconds Coinbase's clock is away from ours (time endpoint)
        self.style: str = "rounded"  # "rounded" (cents, base increments) or "raw" (16 decimals)

    # ---- configuration -------------------------------------------------------------------
    def add_product(self, product: FakeProduct) -> None:
        with self.lock:
            self.products[product.product_id] = product
            for cur in (product.base, product.quote):
                self._account(cur)

    def set_price(self, product_id: str, price: Decimal | str, spread: Decimal | str | None = None) -> None:
        with self.lock:
            p = self.products[product_id]
            p.price = Decimal(str(price))
            if spread is not None:
                p.spread = Decimal(str(spread))

    def set_balance(self, currency: str, amount: Decimal | str) -> None:
        with self.lock:
            self._account(currency)
            self.balances[currency] = Decimal(str(amount))

    def _account(self, currency: str) -> None:
        if currency not in self.account_ids:
            self.account_ids[currency] = str(uuid.uuid5(uuid.NAMESPACE_URL, "acct-" + currency))
            self.balances.setdefault(currency, Decimal(0))
            self.holds.setdefault(currency, Decimal(0))

    # ---- orders ------------------------------------------------------------------------------
    def create_market_order(
        self,
        client_order_id: str,
        product_id: str,
        side: str,
        quote_size: str | None,
        base_size: str | None,
    ) -> FakeOrder:
        """Accept (or replay) an order; raise OrderFailure for business errors."""
        with self.lock:
            self.advance()
            self.create_attempts[client_order_id] = self.create_attempts.get(client_order_id, 0) + 1
            existing = self.by_client_id.get(client_order_id)
            if existing:
                return self.orders[existing]
            product = self.products.get(product_id)
            if product is None:
                raise OrderFailure("INVALID_PRODUCT_ID", "Product not found", "", "INVALID_PRODUCT_ID")
            if side not in ("BUY", "SELL"):
                raise OrderFailure("INVALID_SIDE", "side must be BUY or SELL")
            if product.trading_disabled or product.cancel_only or product.status != "online":
                raise OrderFailure(
                    "ORDER_ENTRY_DISABLED",
                    "Trading is disabled for this product",
                    "PREVIEW_ORDER_ENTRY_DISABLED",
                )
            q = Decimal(quote_size) if quote_size else None
            b = Decimal(base_size) if base_size else None
            if (q is None) == (b is None):
                raise OrderFailure("INVALID_ARGUMENT", "exactly one of quote_size/base_size")
            if q is not None:
                if q != q.quantize(product.quote_increment, rounding=ROUND_DOWN):
                    raise OrderFailure(
                        "INVALID_SIZE_PRECISION",
                        "Too many decimals in order amount",
                        "PREVIEW_INVALID_SIZE_PRECISION",
                        "INVALID_SIZE_PRECISION",
                    )
                if q < product.quote_min_size:
                    raise OrderFailure(
                        "UNKNOWN_FAILURE_REASON",
                        "Quote size is too small",
                        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
                    )
            if b is not None:
                if b != b.quantize(product.base_increment, rounding=ROUND_DOWN):
                    raise OrderFailure(
                        "INVALID_SIZE_PRECISION",
                        "Too many decimals in order amount",
                        "PREVIEW_INVALID_SIZE_PRECISION",
                        "INVALID_SIZE_PRECISION",
                    )
                if b < product.base_min_size:
                    raise OrderFailure(
                        "UNKNOWN_FAILURE_REASON",
                        "Base size is too small",
                        "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                    )
                if b * (product.bid if side == "SELL" else product.ask) < product.quote_min_size:
                    raise OrderFailure(
                        "UNKNOWN_FAILURE_REASON",
                        "Quote size is too small",
                        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
                    )
            if q is not None and side == "BUY":
                expected = quantize_down(q / (1 + self.taker_fee_rate) / product.ask, product.base_increment)
                if expected < max(product.base_min_size, product.base_increment):
                    raise OrderFailure(
                        "UNKNOWN_FAILURE_REASON",
                        "Base size is too small",
                        "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                    )
            if q is not None:
                amount = q if side == "BUY" else q / product.bid
            else:
                assert b is not None
                amount = b * product.ask * (1 + self.taker_fee_rate) if side == "BUY" else b
            pay = product.quote if side == "BUY" else product.base
            if self.balances.get(pay, Decimal(0)) < amount:
                raise OrderFailure(
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                    "INSUFFICIENT_FUND",
                )
            self.balances[pay] -= amount
            self.holds[pay] += amount
            now, mono = self._now(), time.monotonic()
            order = FakeOrder(
                str(uuid.uuid4()),
                client_order_id,
                product_id,
                side,
                q,
                b,
                now,
                hold_left=amount,
                price_quantum=RAW_QUANTUM if self.style == "raw" else product.price_increment,
            )
            if self.fail_next:
                order.reject_reason = self.fail_next.pop(0)
                order.fail_at = mono + self.fill_delay
            else:
                # Never split into fills too small to hold one base increment each.
                base_est = b if b is not None else q / product.ask  # type: ignore[operator]
                n = max(1, min(self.partial_fills, int(base_est / product.base_increment) // 2))
                share = Decimal(1) / n
                order.schedule = [
                    (
                        mono + self.fill_delay * (i + 1) / n,
                        share if i < n - 1 else 1 - share * (n - 1),
                    )
                    for i in range(n)
                ]
            self.orders[order.order_id] = order
            self.by_client_id[client_order_id] = order.order_id
            self.advance()
            return order

    def cancel(self, order_id: str) -> tuple[bool, str]:
        with self.lock:
            self.advance()
            order = self.orders.get(order_id)
            if order is None:
                return False, "UNKNOWN_CANCEL_ORDER"
            if order.status not in ("OPEN", "PENDING"):
                return False, "COMMANDER_REJECTED_CANCEL_ORDER"
            order.status, order.schedule = "CANCELLED", []
            self._release(order)
            return True, "UNKNOWN_CANCEL_FAILURE_REASON"

    def _release(self, order: FakeOrder) -> None:
        product = self.products[order.product_id]
        cur = product.quote if order.side == "BUY" else product.base
        self.holds[cur] -= order.hold_left
        self.balances[cur] += order.hold_left
        order.hold_left = Decimal(0)

    def advance(self) -> None:
        """Execute every fill (or failure) that is due."""
        with self.lock:
            mono = time.monotonic()
            for order in self.orders.values():
                if order.fail_at is not None and order.fail_at <= mono and order.status == "OPEN":
                    order.status, order.fail_at = "FAILED", None
                    self._release(order)
                while order.schedule and order.schedule[0][0] <= mono:
                    _, share = order.schedule.pop(0)
                    self._fill(order, share, last=not order.schedule)

    def _quote_quantum(self, product: FakeProduct) -> Decimal:
        return RAW_QUANTUM if self.style == "raw" else product.quote_increment

    def _base_quantum(self, product: FakeProduct) -> Decimal:
        return RAW_QUANTUM if self.style == "raw" else product.base_increment

    def _fill(self, order: FakeOrder, share: Decimal, last: bool) -> None:
        product = self.products[order.product_id]
        rate, now = self.taker_fee_rate, self._now()
        vq, bq = self._quote_quantum(product), self._base_quantum(product)
        if order.side == "BUY":
            price = product.ask
            if order.quote_size is not None:
                spent_before = order.filled_value + order.total_fees
                gross = (
                    order.quote_size - spent_before
                    if last
                    else (order.quote_size * share).quantize(product.quote_increment, rounding=ROUND_DOWN)
                )
                value = (gross / (1 + rate)).quantize(vq, rounding=ROUND_HALF_EVEN)
                fee = gross - value  # filled_value + total_fees == quote_size exactly
                size = (value / price).quantize(bq, rounding=ROUND_DOWN)  # what the account gets
            else:
                size = (order.base_size * share).quantize(product.base_increment)  # type: ignore[operator]
                if last:
                    size = order.base_size - order.filled_size  # type: ignore[operator]
                value = (size * price).quantize(vq, rounding=ROUND_HALF_EVEN)
                fee = (value * rate).quantize(vq, rounding=ROUND_HALF_EVEN)
            cost = value + fee
            self.holds[product.quote] -= cost
            order.hold_left -= cost
            self.balances[product.base] = self.balances.get(product.base, Decimal(0)) + size
        else:
            price = product.bid
            base = order.base_size if order.base_size is not None else order.hold_left
            size = (base * share).quantize(product.base_increment, rounding=ROUND_DOWN)
            if last:
                size = order.hold_left
            value = (size * price).quantize(vq, rounding=ROUND_HALF_EVEN)
            fee = (value * rate).quantize(vq, rounding=ROUND_HALF_EVEN)
            self.holds[product.base] -= size
            order.hold_left -= size
            self.balances[product.quote] += value - fee
        order.fills.append(
            FakeFill(
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                order.order_id,
                order.product_id,
                order.side,
                price,
                size,
                fee,
                now,
                value,
            )
        )
        order.filled_at = now
        if last:
            order.status = "FILLED"
            self._release(order)  # leftover hold (rounding) goes back

    # ---- inspection ----------------------------------------------------------------------------
    def orders_for_client_id(self, client_order_id: str) -> list[FakeOrder]:
        with self.lock:
            self.advance()
            return [o for o in self.orders.values() if o.client_order_id == client_order_id]


__all__ = ["RAW_QUANTUM", "ExchangeState", "FakeFill", "FakeOrder", "OrderFailure"]
