"""Concurrent executes never pass a limit only some of them fit (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.types import Side, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.store.models import SafetyAudit, Trade
from coinpilot.store.repos import positions as position_repo
from tests.integration._fakes import TEST_LIMITS, FakeExchange, StaticMarket, enable_trading, make_bot

D = Decimal
THREADS = 20


def _run_concurrently(fns: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(fns))
    results: list[object] = [None] * len(fns)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _many_pairs(clock, n: int) -> StaticMarket:
    return StaticMarket(clock, {f"C{i}-USD": (D("100"), D("100.1")) for i in range(n)})


def _counts(session_factory) -> tuple[int, int]:
    with session_factory() as s:
        trades = s.scalar(sa.select(sa.func.count(Trade.id)))
        allowed = s.scalar(sa.select(sa.func.count(SafetyAudit.id)).where(SafetyAudit.allowed))
    return int(trades or 0), int(allowed or 0)


def test_twenty_concurrent_executes_against_a_daily_limit_of_three_place_exactly_three(
    session_factory, clock
):
    exchange = FakeExchange(clock, market=_many_pairs(clock, THREADS), balances={"USD": D("100000")})
    limits = replace(TEST_LIMITS, max_daily_trades=3, max_daily_trades_per_bot=3)
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, limits)
    bots = [make_bot(session_factory, clock, f"C{i}-USD") for i in range(THREADS)]
    enable_trading(session_factory, clock)
    results = _run_concurrently([lambda b=b: svc.execute(b, Side.BUY, quote_size="10") for b in bots])
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for r in results if r.allowed) == 3
    assert _counts(session_factory) == (3, 3)
    assert exchange.orders_created == 3


def test_two_bots_competing_for_a_global_limit_get_exactly_the_limit(session_factory, clock):
    exchange = FakeExchange(clock, balances={"USD": D("100000")})
    limits = replace(TEST_LIMITS, max_daily_trades=1, max_daily_trades_per_bot=1)
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, limits)
    a = make_bot(session_factory, clock, "BTC-USD")
    b = make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)
    calls = [
        lambda bot=(a if i % 2 else b): svc.execute(bot, Side.BUY, quote_size="10") for i in range(THREADS)
    ]
    results = _run_concurrently(calls)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for r in results if r.allowed) == 1
    assert _counts(session_factory) == (1, 1)
    assert exchange.orders_created == 1


def test_concurrent_buys_of_one_bot_leave_exactly_one_order_in_flight(session_factory, clock):
    exchange = FakeExchange(clock, balances={"USD": D("100000")})
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    results = _run_concurrently([lambda: svc.execute(bot, Side.BUY, quote_size="10") for _ in range(THREADS)])
    assert sum(1 for r in results if not isinstance(r, Exception) and r.allowed) == 1
    assert exchange.orders_created == 1


def test_in_flight_buys_count_as_exposure_so_concurrent_bots_cannot_overshoot_it(session_factory, clock):
    exchange = FakeExchange(clock, market=_many_pairs(clock, THREADS), balances={"USD": D("100000")})
    limits = replace(
        TEST_LIMITS, max_total_exposure_usd=D("60"), max_trade_usd=D("20"), max_position_usd_per_bot=D("60")
    )
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, limits)
    bots = [make_bot(session_factory, clock, f"C{i}-USD") for i in range(THREADS)]
    enable_trading(session_factory, clock)
    results = _run_concurrently([lambda b=b: svc.execute(b, Side.BUY, quote_size="20") for b in bots])
    assert sum(1 for r in results if not isinstance(r, Exception) and r.allowed) == 3
    assert exchange.orders_created == 3


def test_concurrent_syncs_settle_a_trade_exactly_once(session_factory, clock):
    exchange = FakeExchange(clock)
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    res = svc.execute(bot, Side.BUY, quote_size="20")
    clock.advance(5)
    syncs = [OrderSync(session_factory, exchange, clock, TradingMode.MOCK) for _ in range(8)]
    results = _run_concurrently([s.sync_all for s in syncs])
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r.settled for r in results) == 1
    with session_factory() as s:
        t = s.get(Trade, res.trade.id)
        pos = position_repo.get_position(s, bot, TradingMode.MOCK)
        assert len(t.fills) == 2
        assert pos.base_size == t.filled_base_size
        assert pos.cost == D("20")
        assert len(pos.tranches) == 1


class _BalancesReadTogether(FakeExchange):
    """Two requests read the balance before either of them takes the trading lock: the race the
    reserve check must survive (deterministic: both reads meet at a barrier)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.meet = threading.Barrier(2, timeout=10)

    def get_balances(self, currencies=None):
        out = super().get_balances(currencies)
        self.meet.wait()
        return out


def test_two_simultaneous_buys_on_two_bots_leave_at_least_the_reserve(session_factory, clock):
    exchange = _BalancesReadTogether(clock, balances={"USD": D("35")})
    limits = replace(TEST_LIMITS, min_reserved_balance_usd=D("10"))
    svc = TradeService(session_factory, exchange, clock, TradingMode.MOCK, limits)
    a = make_bot(session_factory, clock, "BTC-USD")
    b = make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)
    results = _run_concurrently(
        [lambda bot=bot: svc.execute(bot, Side.BUY, quote_size="20") for bot in (a, b)]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if r.allowed) == 1, [r.decision for r in results]
    refused = next(r for r in results if not r.allowed)
    assert [x["code"] for x in refused.decision["reasons"]] == ["MIN_RESERVED_BALANCE"]
    assert exchange.orders_created == 1
    assert _counts(session_factory) == (1, 1)
