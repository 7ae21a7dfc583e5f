"""The mock-mode exchange: Coinbase's order rules against replayed or live prices, no real money.

Orders, fills and balances live in ``paper_orders`` / ``paper_fills`` / ``paper_balances`` so a
restarted process still answers ``get_order`` (the engine reconciles by it).

The pieces: order rules and fill arithmetic in :mod:`.paper_rules`, booking a fill on the rows
(with the arithmetic spelled out) in :mod:`.paper_booking`, the SQL and the reads in
:mod:`.paper_queries`, filling due orders in :mod:`.paper_filling`; this module is the rest of
the order's life (place, read, cancel).

Funds are reserved at placement (``available`` falls, ``hold`` rises) so two orders cannot spend
the same dollars. An order is created OPEN with ``fill_due_at = now + fill_delay`` and fills at
the market price of the moment the fill is processed: the first read (``get_order``,
``get_orders``, ``get_fills``, ``cancel_orders``) or ``process_due()`` at or after
``fill_due_at``; with ``fill_delay_seconds=0`` it is created and filled in one transaction
inside ``place_market_order``, at the price read just before it.

Concurrency: every write transaction (place, fill, cancel, seed) starts by taking one
account-wide lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: a write that takes the database
write lock) before it reads what it decides on, so paper writes are serialised and cannot
deadlock; ``client_order_id`` is also unique, and an ``IntegrityError`` means another caller
created the order first, whose ack is returned.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.exchange_values import (
    Balance,
    ExchangeOrderStatus,
    FeeRates,
    FillReport,
    OrderAck,
    OrderRequest,
    OrderSnapshot,
)
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity, TradingMode
from coinpilot.exchange.base import (
    ExchangeError,
    ExchangeUnavailable,
    MarketData,
    OrderNotFound,
    ProductNotFound,
)
from coinpilot.exchange.paper_booking import apply_fill, release_hold
from coinpilot.exchange.paper_filling import PaperFilling
from coinpilot.exchange.paper_queries import (
    BY_CLIENT_ID,
    OPEN,
    balances_with_holds,
    claim_open,
    fill_reports,
    fresh_balances,
    open_orders,
    orders_by_id,
    snapshots,
    write_lock,
)
from coinpilot.exchange.paper_rules import check_order, reject, reservation
from coinpilot.store.db import read_session, session_scope
from coinpilot.store.models import PaperBalance, PaperOrder

BPS = Decimal(10000)


class PaperExchange(PaperFilling):
    """:class:`~coinpilot.exchange.base.Exchange` in mock mode, persisted in the database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        market: MarketData,
        clock: Clock,
        fee_rate: Decimal = Decimal("0.006"),
        slippage_bps: Decimal = Decimal("5"),
        fill_delay_seconds: float = 0.2,
        starting_balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        if isinstance(fee_rate, float) or isinstance(slippage_bps, float):
            raise ValueError("fee_rate and slippage_bps must be Decimal, not float")
        if not Decimal(0) <= fee_rate < Decimal(1) or slippage_bps < 0 or fill_delay_seconds < 0:
            raise ValueError("need 0 <= fee_rate < 1, slippage_bps >= 0, fill_delay_seconds >= 0")
        self._sf = session_factory
        self.market = market
        self._clock = clock
        self.fee_rate = Decimal(fee_rate)
        self.slippage = Decimal(slippage_bps) / BPS
        self.fill_delay = timedelta(seconds=fill_delay_seconds)
        balances = {"USD": Decimal("1000")} if starting_balances is None else starting_balances
        self._starting = {c.upper(): Decimal(v) for c, v in balances.items()}
        self._seeded = False
        self._seed_lock = threading.Lock()

    @property
    def mode(self) -> TradingMode:
        return TradingMode.MOCK

    # -- MarketData: the same prices the bots see ---------------------------------------------
    def list_products(self) -> list[Product]:
        return self.market.list_products()

    def get_product(self, pair: str) -> Product:
        return self.market.get_product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        return self.market.get_candles(pair, granularity, start, end)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        return self.market.get_best_bid_ask(pairs)

    def get_fee_rates(self) -> FeeRates:
        return FeeRates(maker=self.fee_rate, taker=self.fee_rate, tier="paper")

    # -- balances -----------------------------------------------------------------------------
    def _ensure_seeded(self) -> None:
        """First use of the paper account: credit the starting balances (once, race-safe)."""
        if self._seeded:
            return
        now = self._clock.now()
        try:
            with self._seed_lock, session_scope(self._sf) as s:
                if self._seeded:
                    return
                write_lock(s)
                if s.scalar(sa.select(sa.func.count()).select_from(PaperBalance)) == 0:
                    for cur, amount in self._starting.items():
                        s.add(PaperBalance(currency=cur, available=amount, updated_at=now))
        except IntegrityError:
            pass  # another process seeded it at the same moment
        self._seeded = True

    def _starting_if_unused(self, currencies: Sequence[str] | None) -> dict[str, Balance] | None:
        """The starting balances if the paper account was never used, else None (and it is
        known to be seeded from then on)."""
        with read_session(self._sf) as s:
            if s.scalar(sa.select(sa.func.count()).select_from(PaperBalance)):
                self._seeded = True
                return None
        wanted = None if currencies is None else set(currencies)
        return {
            cur: Balance(cur, amount)
            for cur, amount in self._starting.items()
            if wanted is None or cur in wanted
        }

    def get_balances(self, currencies: Sequence[str] | None = None) -> dict[str, Balance]:
        """Balances per currency: ``available`` excludes ``hold`` (funds of OPEN orders).

        Due orders are filled first; when none is due (the usual case) this is one read. An
        account never used shows its starting balances without writing them (a read stays a
        read: ``GET /safety/drift`` must not change a fresh database); placing an order seeds.
        """
        if not self._seeded:
            unused = self._starting_if_unused(currencies)
            if unused is not None:
                return unused
        now = self._clock.now()
        with read_session(self._sf) as s:
            orders = open_orders(s)
            if not any(o.fill_due_at <= now for o in orders):
                return balances_with_holds(s, orders, currencies)
        self.process_due()
        with read_session(self._sf) as s:
            return balances_with_holds(s, open_orders(s), currencies)

    # -- placing ------------------------------------------------------------------------------
    def _validate(self, req: OrderRequest) -> Product:
        try:
            product = self.market.get_product(req.pair)
        except ProductNotFound:
            raise reject(
                "INVALID_PRODUCT_ID",
                f"{req.pair!r} is not a tradable product here; use one of "
                f"{', '.join(p.product_id for p in self.market.list_products())}",
            ) from None
        check_order(req, product)
        return product

    def _existing_ack(self, client_order_id: str) -> OrderAck | None:
        with session_scope(self._sf) as s:
            o = s.scalar(BY_CLIENT_ID, {"client_order_id": client_order_id})
            return None if o is None else OrderAck(o.order_id, o.client_order_id, o.pair, o.side)

    def place_market_order(self, request: OrderRequest) -> OrderAck:
        """Reserve funds and create the order (idempotent on ``client_order_id``).

        With no fill delay the order is created and filled in one transaction, at the price read
        just before it (the moment of placement).
        """
        try:
            product = self._validate(request)
            try:  # refuse up front when there is no price to fill at
                quote = self.market.get_best_bid_ask([request.pair])[request.pair]
            except ExchangeUnavailable:
                raise
            except (ExchangeError, KeyError) as exc:
                raise reject("NO_MARKET_PRICE", f"no market price for {request.pair}: {exc}") from None
        except Exception:
            # A replay of an order accepted earlier gets its original ack, even if it would be
            # refused now (the idempotency check inside the transaction covers the usual case).
            existing = self._existing_ack(request.client_order_id)
            if existing is not None:
                return existing
            raise
        self._ensure_seeded()
        cur, amount = reservation(request.pair, request.side, request.quote_size, request.base_size)
        now = self._clock.now()
        order_id = str(uuid.uuid4())
        fill_now = not self.fill_delay
        try:
            with session_scope(self._sf) as s:
                write_lock(s)
                dup = s.scalar(BY_CLIENT_ID, {"client_order_id": request.client_order_id})
                if dup is not None:
                    return OrderAck(dup.order_id, dup.client_order_id, dup.pair, dup.side)
                balances = fresh_balances(s, request.pair.split("-", 1) if fill_now else [cur])
                row = balances.get(cur)
                available = row.available if row is not None else Decimal(0)
                if row is None or available < amount:
                    raise reject(
                        "INSUFFICIENT_FUND",
                        f"not enough {cur}: this order needs {amount}, {available} is available; "
                        "use a smaller size or wait for open orders to finish",
                        needed=str(amount),
                        available=str(available),
                    )
                row.available = available - amount
                order = PaperOrder(
                    order_id=order_id,
                    client_order_id=request.client_order_id,
                    pair=request.pair,
                    side=request.side,
                    quote_size=request.quote_size,
                    base_size=request.base_size,
                    status=OPEN,
                    filled_base=Decimal(0),
                    filled_value=Decimal(0),
                    total_fees=Decimal(0),
                    created_at=now,
                    fill_due_at=now + self.fill_delay,
                )
                s.add(order)
                if fill_now:  # inserted already filled (the fill row follows it: see apply_fill)
                    apply_fill(
                        s,
                        order,
                        balances,
                        now,
                        slippage=self.slippage,
                        fee_rate=self.fee_rate,
                        product=product,
                        quote=quote,
                    )
        except IntegrityError:
            existing = self._existing_ack(request.client_order_id)
            if existing is None:
                raise
            return existing
        return OrderAck(order_id, request.client_order_id, request.pair, request.side)

    # -- reading ------------------------------------------------------------------------------
    def get_order(self, order_id: str) -> OrderSnapshot:
        found = self.get_orders([order_id])
        if not found:
            raise OrderNotFound(f"no paper order with id {order_id}", code="NOT_FOUND")
        return found[0]

    def find_order(self, pair: str, client_order_id: str, around: datetime) -> OrderSnapshot | None:
        """The paper book's order with this client_order_id (its own book is the truth)."""
        with session_scope(self._sf) as s:
            o = s.scalar(BY_CLIENT_ID, {"client_order_id": client_order_id})
            order_id = o.order_id if o is not None and o.pair == pair else None
        return None if order_id is None else self.get_order(order_id)

    def get_orders(self, order_ids: Sequence[str]) -> list[OrderSnapshot]:
        ids = list(dict.fromkeys(order_ids))
        if not ids:
            return []
        now = self._clock.now()
        with session_scope(self._sf) as s:
            orders = orders_by_id(s, ids)
            due = [o.order_id for o in orders.values() if o.status == OPEN and o.fill_due_at <= now]
            if not due:  # the usual case: one read
                return snapshots(s, ids, orders)
        for oid in due:
            self._fill(oid)
        with session_scope(self._sf) as s:
            return snapshots(s, ids, orders_by_id(s, ids))

    def get_fills(self, order_id: str) -> list[FillReport]:
        """Fills of one order, oldest first ([] for an unknown id, as Coinbase answers)."""
        now = self._clock.now()
        with session_scope(self._sf) as s:
            o = s.get(PaperOrder, order_id)
            if o is None:
                return []
            if not (o.status == OPEN and o.fill_due_at <= now):  # the usual case: one read
                return fill_reports(s, order_id)
        self._fill(order_id)
        with session_scope(self._sf) as s:
            return fill_reports(s, order_id)

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel OPEN orders that are not yet due (due ones fill first, as a real one would)."""
        ids = list(dict.fromkeys(order_ids))
        self._due_first(ids)
        now = self._clock.now()
        out = dict.fromkeys(ids, False)
        for oid in ids:
            out[oid] = self._retry_integrity(functools.partial(self._cancel_one, oid, now))
        return out

    def _cancel_one(self, order_id: str, now: datetime) -> bool:
        with session_scope(self._sf) as s:
            o = claim_open(s, order_id, ExchangeOrderStatus.CANCELLED)
            if o is None:
                return False
            release_hold(s, o, now)
            return True
