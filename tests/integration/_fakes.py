"""Test doubles for the order path: an in-memory exchange with fault hooks, static market data,
and small helpers to create bots and switch trading on.

``FakeExchange`` behaves like Coinbase where the engine depends on it: idempotent on
``client_order_id``, market orders fill ``fill_delay`` seconds (by the injected clock) after
creation, quote-sized buys keep ``filled_value + fees == quote_size`` exactly. Fault hooks:

- ``create_faults``: a queue consumed one per ``place_market_order`` call:
  ``"unavailable_before"`` (raise ExchangeUnavailable, nothing created),
  ``"unavailable_after"`` (create the order, then raise ExchangeUnavailable: the ack is lost),
  ``"reject"`` (raise OrderRejected INSUFFICIENT_FUND), ``"ok"`` (no fault),
  ``"crash_before"`` / ``"crash_after"`` (raise :class:`Crash`, a BaseException no handler
  catches, before / after creating the order: the process "dies" there, like kill -9).
- ``fail_reads``: raise ExchangeUnavailable from get_order/get_orders/get_fills while > 0.
- ``hide_fills``: get_fills returns [] (the fill list lagging the order status).
- ``finish_as(order_id, status, fraction, reason)``: end an order CANCELLED/EXPIRED/FAILED with
  a partial fill of ``fraction`` of its size and the exchange's ``reason``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

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
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import (
    BotStatus,
    Granularity,
    Side,
    TradingMode,
    quantize_down,
)
from coinpilot.exchange.base import ExchangeUnavailable, OrderNotFound, OrderRejected, ProductNotFound
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.models import Bot

D = Decimal


class Crash(BaseException):
    """Simulated kill -9: escapes every ``except Exception`` so nothing gets recorded."""


SATOSHI = D("0.00000001")


def product(pair: str) -> Product:
    base, quote = pair.split("-")
    return Product(
        product_id=pair,
        base_currency=base,
        quote_currency=quote,
        base_increment=SATOSHI,
        quote_increment=D("0.01"),
        base_min_size=SATOSHI,
        quote_min_size=D("1"),
        price_increment=D("0.01"),
    )


class StaticMarket:
    """MarketData with prices set by the test (bid/ask per pair)."""

    def __init__(self, clock: Clock, prices: dict[str, tuple[Decimal, Decimal]] | None = None):
        self._clock = clock
        self.prices = dict(prices or {"BTC-USD": (D("50000"), D("50010")), "ETH-USD": (D("3000"), D("3001"))})
        self.fail = False

    def list_products(self) -> list[Product]:
        return [product(p) for p in self.prices]

    def get_product(self, pair: str) -> Product:
        if pair not in self.prices:
            raise ProductNotFound(f"unknown product {pair}", code="NOT_FOUND")
        return product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        return Candles.empty(pair, granularity)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        if self.fail:
            raise ExchangeUnavailable("market data down", code="UNAVAILABLE")
        now = self._clock.now()
        return {p: BestBidAsk(p, *self.prices[p], now) for p in pairs if p in self.prices}


@dataclass
class _Order:
    order_id: str
    request: OrderRequest
    created_at: datetime
    status: ExchangeOrderStatus = ExchangeOrderStatus.OPEN
    fills: list[FillReport] = field(default_factory=list)
    reject_reason: str | None = None


class FakeExchange:
    """In-memory :class:`~coinpilot.exchange.base.Exchange` with fault hooks (see module doc)."""

    def __init__(
        self,
        clock: Clock,
        *,
        market: StaticMarket | None = None,
        mode: TradingMode = TradingMode.MOCK,
        fee_rate: Decimal = D("0.006"),
        fill_delay_seconds: float = 0.2,
        fills_per_order: int = 2,
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        self._clock = clock
        self.market = market or StaticMarket(clock)
        self._mode = mode
        self.fee_rate = fee_rate
        self.fill_delay = timedelta(seconds=fill_delay_seconds)
        self.fills_per_order = fills_per_order
        self.balances: dict[str, Decimal] = dict(balances or {"USD": D("1000")})
        self.orders: dict[str, _Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.create_faults: list[str] = []
        self.fail_reads = 0
        self.fail_balances = False
        self.hide_fills = False
        self.create_calls = 0
        self.cancel_calls: list[list[str]] = []
        self.get_orders_calls = 0
        self.find_order_calls = 0
        self._lock = threading.RLock()

    @property
    def mode(self) -> TradingMode:
        return self._mode

    @property
    def orders_created(self) -> int:
        return len(self.orders)

    # market data
    def list_products(self) -> list[Product]:
        return self.market.list_products()

    def get_product(self, pair: str) -> Product:
        return self.market.get_product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        return self.market.get_candles(pair, granularity, start, end)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        return self.market.get_best_bid_ask(pairs)

    def get_fee_rates(self) -> FeeRates:
        return FeeRates(self.fee_rate, self.fee_rate, "fake")

    def get_balances(self, currencies=None) -> dict[str, Balance]:
        if self.fail_balances:
            raise ExchangeUnavailable("balances unavailable", code="UNAVAILABLE")
        with self._lock:
            self._process_due()
            return {
                c: Balance(c, v) for c, v in self.balances.items() if currencies is None or c in currencies
            }

    # orders
    def place_market_order(self, request: OrderRequest) -> OrderAck:
        with self._lock:
            self.create_calls += 1
            fault = self.create_faults.pop(0) if self.create_faults else "ok"
            if fault == "crash_before":
                raise Crash("killed before the order was sent")
            if fault == "unavailable_before":
                raise ExchangeUnavailable("timeout before the order reached us", code="TIMEOUT")
            existing = self.by_client_id.get(request.client_order_id)
            if existing is None:
                if fault == "reject":
                    raise OrderRejected("not enough USD for this order", code="INSUFFICIENT_FUND")
                order = _Order(str(uuid.uuid4()), request, self._clock.now())
                self.orders[order.order_id] = order
                self.by_client_id[request.client_order_id] = order.order_id
                existing = order.order_id
            if fault == "crash_after":
                raise Crash("killed after the order was created, before the ack was stored")
            if fault == "unavailable_after":
                raise ExchangeUnavailable("timeout reading the response", code="TIMEOUT")
            o = self.orders[existing]
            return OrderAck(o.order_id, request.client_order_id, request.pair, request.side)

    def _process_due(self) -> None:
        now = self._clock.now()
        for o in self.orders.values():
            if o.status == ExchangeOrderStatus.OPEN and now >= o.created_at + self.fill_delay:
                self._fill(o, D(1))
                o.status = ExchangeOrderStatus.FILLED

    def _fill(self, o: _Order, fraction: Decimal) -> None:
        req = o.request
        bid, ask = self.market.prices[req.pair]
        base_cur, quote_cur = req.pair.split("-")
        if req.side == Side.BUY:
            assert req.quote_size is not None
            quote = (req.quote_size * fraction).quantize(D("0.01"))
            base = quantize_down(quote / ((1 + self.fee_rate) * ask), SATOSHI)
            value = base * ask
            fee = quote - value
            price = ask
        else:
            assert req.base_size is not None
            base = quantize_down(req.base_size * fraction, SATOSHI)
            price = bid
            value = base * price
            fee = value * self.fee_rate
        n = max(1, self.fills_per_order)
        parts = [quantize_down(base / n, SATOSHI)] * (n - 1)
        parts.append(base - sum(parts, D(0)))
        fees = [(fee * p / base).quantize(SATOSHI) for p in parts[:-1]]
        fees.append(fee - sum(fees, D(0)))
        for i, (b, f) in enumerate(zip(parts, fees, strict=True)):
            o.fills.append(
                FillReport(f"{o.order_id}-f{i}", o.order_id, price, b, f, "TAKER", self._clock.now())
            )
        if req.side == Side.BUY:
            self.balances[quote_cur] = self.balances.get(quote_cur, D(0)) - value - fee
            self.balances[base_cur] = self.balances.get(base_cur, D(0)) + base
        else:
            self.balances[base_cur] = self.balances.get(base_cur, D(0)) - base
            self.balances[quote_cur] = self.balances.get(quote_cur, D(0)) + value - fee

    def finish_as(
        self, order_id: str, status: ExchangeOrderStatus, fraction: Decimal, reason: str | None = None
    ) -> None:
        with self._lock:
            o = self.orders[order_id]
            if fraction > 0:
                self._fill(o, fraction)
            o.status = status
            o.reject_reason = reason or ("test" if status == ExchangeOrderStatus.FAILED else None)

    def _snapshot(self, o: _Order) -> OrderSnapshot:
        base = sum((f.base_size for f in o.fills), D(0))
        value = sum((f.base_size * f.price for f in o.fills), D(0))
        return OrderSnapshot(
            order_id=o.order_id,
            client_order_id=o.request.client_order_id,
            pair=o.request.pair,
            side=o.request.side,
            status=o.status,
            filled_base=base,
            average_price=(value / base) if base else None,
            filled_value=value,
            total_fees=sum((f.fee for f in o.fills), D(0)),
            number_of_fills=len(o.fills),
            reject_reason=o.reject_reason,
            created_at=o.created_at,
        )

    def _read_fault(self) -> None:
        if self.fail_reads > 0:
            self.fail_reads -= 1
            raise ExchangeUnavailable("read timed out", code="TIMEOUT")

    def get_order(self, order_id: str) -> OrderSnapshot:
        with self._lock:
            self._read_fault()
            self._process_due()
            if order_id not in self.orders:
                raise OrderNotFound(f"no order {order_id}", code="NOT_FOUND")
            return self._snapshot(self.orders[order_id])

    def get_orders(self, order_ids: Sequence[str]) -> list[OrderSnapshot]:
        with self._lock:
            self.get_orders_calls += 1
            self._read_fault()
            self._process_due()
            return [self._snapshot(self.orders[i]) for i in order_ids if i in self.orders]

    def find_order(self, pair: str, client_order_id: str, around: datetime) -> OrderSnapshot | None:
        with self._lock:
            self.find_order_calls += 1
            self._read_fault()
            self._process_due()
            for o in self.orders.values():
                if o.request.client_order_id == client_order_id and o.request.pair == pair:
                    return self._snapshot(o)
            return None

    def get_fills(self, order_id: str) -> list[FillReport]:
        with self._lock:
            self._read_fault()
            self._process_due()
            if self.hide_fills or order_id not in self.orders:
                return []
            return list(self.orders[order_id].fills)

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        with self._lock:
            self.cancel_calls.append(list(order_ids))
            self._process_due()
            out = {}
            for i in order_ids:
                o = self.orders.get(i)
                ok = o is not None and o.status == ExchangeOrderStatus.OPEN
                if ok and o is not None:
                    o.status = ExchangeOrderStatus.CANCELLED
                out[i] = ok
            return out


# ---- database helpers --------------------------------------------------------------------------

TEST_LIMITS = SafetyLimits(cooldown_minutes=0, min_reserved_balance_usd=D("0"))
# Roomy limits (within the hard caps) for the kill -9 rounds: many small trades per bot.
KILL_LIMITS = SafetyLimits(
    cooldown_minutes=0,
    min_reserved_balance_usd=D("0"),
    max_daily_trades=100,
    max_daily_trades_per_bot=50,
    max_position_usd_per_bot=D("1000"),
    max_total_exposure_usd=D("5000"),
)


def make_bot(
    sf: sessionmaker[Session],
    clock: Clock,
    pair: str = "BTC-USD",
    *,
    status: BotStatus = BotStatus.RUNNING,
    cooldown_minutes: float = 0,
    max_tranches: int = 3,
) -> int:
    now = clock.now()
    with sf() as s, s.begin():
        bot = Bot(
            name=f"bot-{pair}-{uuid.uuid4().hex[:6]}",
            pair=pair,
            status=status,
            signal_config={},
            buy_threshold=-0.1,
            sell_threshold=0.1,
            trade_size_usd=D("20"),
            cooldown_minutes=cooldown_minutes,
            max_tranches=max_tranches,
            created_at=now,
            updated_at=now,
        )
        s.add(bot)
        s.flush()
        return bot.id


def enable_trading(sf: sessionmaker[Session], clock: Clock, mode: TradingMode = TradingMode.MOCK) -> None:
    with sf() as s, s.begin():
        state = acquire_trading_lock(s, clock.now())
        state.trading_state = TradingState.ACTIVE
        state.state_reason = "enabled by the test"
        state.state_by = "test"
        state.enabled_mode = mode


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# ---- kill -9 child -------------------------------------------------------------------------------


def trade_until_killed(url: str, bot_ids: list[int]) -> None:
    """Reconcile, then buy and partly sell in a loop against the paper exchange until killed.

    Run as ``python -m tests.integration._fakes <db_url> <bot_id>...`` by the kill -9 test.
    """
    from coinpilot.domain.clock import SystemClock
    from coinpilot.domain.types import TradeIntent
    from coinpilot.engine.orders.execution import TradeService
    from coinpilot.engine.orders.reconcile import reconcile_all
    from coinpilot.engine.orders.sync import OrderSync
    from coinpilot.exchange.paper import PaperExchange
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.repos import positions as position_repo

    mode = TradingMode.MOCK
    sf = make_session_factory(make_engine(url))
    clock = SystemClock()
    paper = PaperExchange(
        sf, StaticMarket(clock), clock, fill_delay_seconds=0, starting_balances={"USD": D("100000")}
    )
    svc = TradeService(sf, paper, clock, mode, KILL_LIMITS)
    reconcile_all(sf, paper, clock, mode, svc.fresh_approval)  # a restarted process reconciles first
    sync = OrderSync(sf, paper, clock, mode, approver=svc.fresh_approval)
    print("ready", flush=True)
    i = 0
    while True:
        for bot_id in bot_ids:
            i += 1
            with sf() as s:
                pos = position_repo.get_position(s, bot_id, mode)
                held = pos.base_size if pos else D(0)
            sell = quantize_down(held / 2, SATOSHI)
            if i % 3 == 0 and sell > 0:
                svc.execute(bot_id, Side.SELL, base_size=sell, intent=TradeIntent.TAKE_PROFIT)
            else:
                svc.execute(bot_id, Side.BUY, quote_size="5")
            sync.sync_all()


if __name__ == "__main__":
    import sys

    trade_until_killed(sys.argv[1], [int(b) for b in sys.argv[2:]])
