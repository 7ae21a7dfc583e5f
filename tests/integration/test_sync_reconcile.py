"""Order sync and start-up reconciliation: crashes at every point lose nothing and duplicate
nothing; fills drive the position; back-off; batching; drift report."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.clock import SystemClock
from coinpilot.domain.exchange_values import ExchangeOrderStatus
from coinpilot.domain.types import Side, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.reconcile import position_drift, reconcile_all
from coinpilot.engine.orders.sync import OrderSync, backoff_delay
from coinpilot.exchange.paper import PaperExchange
from coinpilot.store.models import Fill, Trade
from coinpilot.store.repos import positions as position_repo
from tests.integration._fakes import (
    KILL_LIMITS,
    TEST_LIMITS,
    Crash,
    FakeExchange,
    StaticMarket,
    enable_trading,
    make_bot,
)

D = Decimal
MOCK = TradingMode.MOCK


@pytest.fixture
def exchange(clock):
    return FakeExchange(clock)


@pytest.fixture
def service(session_factory, exchange, clock):
    return TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)


@pytest.fixture
def bot(session_factory, clock):
    bot_id = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    return bot_id


def _only_trade(session_factory) -> Trade:
    with session_factory() as s:
        t = s.scalars(sa.select(Trade)).one()
        _ = t.fills
        return t


def _assert_position_equals_fills(session_factory, bot_id):
    with session_factory() as s:
        trades = s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id, Trade.mode == MOCK)).all()
        fills = s.scalars(sa.select(Fill).join(Trade).where(Trade.bot_id == bot_id, Trade.mode == MOCK)).all()
        bought = sum(f.base_size for f in fills if s.get(Trade, f.trade_id).side == Side.BUY)
        sold = sum(f.base_size for f in fills if s.get(Trade, f.trade_id).side == Side.SELL)
        pos = position_repo.get_position(s, bot_id, MOCK)
        assert pos is not None
        assert pos.base_size == bought - sold
        assert all(t.position_applied for t in trades if t.fills)


def _assert_position_replays_from_fills(session_factory, bot_id):
    """Size, cost and realised P&L equal the domain math over the bot's fills, trade by trade."""
    from coinpilot.domain.position import PositionState, apply_entry, apply_exit

    state = PositionState()
    with session_factory() as s:
        trades = s.scalars(
            sa.select(Trade).where(Trade.bot_id == bot_id, Trade.mode == MOCK).order_by(Trade.id)
        ).all()
        for t in trades:
            if not t.fills:
                continue
            if t.side == Side.BUY:
                state = apply_entry(state, t.fills, t.id, t.filled_at)
            else:
                state, realised = apply_exit(state, t.fills)
                assert t.realized_pnl == realised
        pos = position_repo.get_position(s, bot_id, MOCK)
        assert (pos.base_size, pos.cost, pos.realized_pnl) == (
            state.base_size,
            state.cost,
            state.realized_pnl,
        )


def _restart_and_reconcile(session_factory, exchange, clock):
    """A new process: fresh service objects on the same database, reconcile first."""
    clock.advance(1)
    approval = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS).fresh_approval
    return reconcile_all(session_factory, exchange, clock, MOCK, approval)


# ---- crash points ------------------------------------------------------------------------------


def test_crash_after_commit_before_send_is_recovered_by_replaying_the_same_client_order_id(
    session_factory, clock, exchange, service, bot
):
    exchange.create_faults.append("crash_before")
    with pytest.raises(Crash):
        service.execute(bot, Side.BUY, quote_size="20")
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.PENDING and t.order_id is None
    assert exchange.orders_created == 0
    report = _restart_and_reconcile(session_factory, exchange, clock)
    assert report.opened == 1  # the order exists now; it fills a moment later
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.SETTLED
    assert list(exchange.by_client_id) == [t.client_order_id]
    assert exchange.orders_created == 1
    _assert_position_equals_fills(session_factory, bot)


def test_crash_after_send_before_ack_stored_finds_the_existing_order_without_duplicating(
    session_factory, clock, exchange, service, bot
):
    exchange.create_faults.append("crash_after")
    with pytest.raises(Crash):
        service.execute(bot, Side.BUY, quote_size="20")
    assert exchange.orders_created == 1
    assert _only_trade(session_factory).order_id is None
    _restart_and_reconcile(session_factory, exchange, clock)
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.SETTLED
    assert exchange.orders_created == 1
    assert t.order_id == exchange.by_client_id[t.client_order_id]
    _assert_position_equals_fills(session_factory, bot)


def test_crash_after_fill_before_settlement_settles_once_on_restart(
    session_factory, clock, exchange, service, bot
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    # The process recorded the fills and FILLED, then died before the position was updated.
    with session_factory() as s, s.begin():
        t = s.get(Trade, res.trade.id)
        for f in exchange.get_fills(t.order_id):
            s.add(
                Fill(
                    trade_id=t.id,
                    fill_id=f.fill_id,
                    price=f.price,
                    base_size=f.base_size,
                    fee=f.fee,
                    liquidity=f.liquidity,
                    time=f.time,
                )
            )
        t.status = TradeStatus.FILLED
    _restart_and_reconcile(session_factory, exchange, clock)
    _restart_and_reconcile(session_factory, exchange, clock)  # twice: still exactly once
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.SETTLED and len(t.fills) == 2
    assert t.filled_value + t.fees == D("20")
    with session_factory() as s:
        pos = position_repo.get_position(s, bot, MOCK)
        assert pos.cost == D("20") and len(pos.tranches) == 1
    _assert_position_equals_fills(session_factory, bot)


def test_crash_while_open_with_the_order_filled_meanwhile_settles_on_restart(
    session_factory, clock, exchange, service, bot
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    assert res.trade.status == "OPEN"
    clock.advance(60)  # filled on the exchange while we were down
    _restart_and_reconcile(session_factory, exchange, clock)
    assert _only_trade(session_factory).status == TradeStatus.SETTLED
    _assert_position_equals_fills(session_factory, bot)


def test_replayed_order_that_the_exchange_rejects_becomes_failed(
    session_factory, clock, exchange, service, bot
):
    exchange.create_faults += ["crash_before", "reject"]
    with pytest.raises(Crash):
        service.execute(bot, Side.BUY, quote_size="20")
    _restart_and_reconcile(session_factory, exchange, clock)
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.FAILED and t.failure_code == "INSUFFICIENT_FUND"
    assert exchange.orders_created == 0


# ---- unknown outcome ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["unavailable_before", "unavailable_after"])
def test_unknown_outcome_stays_pending_and_sync_replays_the_same_id_once(
    session_factory, clock, exchange, service, bot, fault
):
    exchange.create_faults.append(fault)
    res = service.execute(bot, Side.BUY, quote_size="20")
    assert res.trade.status == "PENDING" and res.trade.order_id is None
    assert "outcome unknown" in (res.trade.last_error or "")
    sync = OrderSync(session_factory, exchange, clock, MOCK, approver=service.fresh_approval)
    for _ in range(5):
        clock.advance(3)
        sync.sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.SETTLED
    assert exchange.orders_created == 1
    assert set(exchange.by_client_id) == {t.client_order_id}


def test_replay_failing_again_keeps_the_trade_pending_with_the_error(
    session_factory, clock, exchange, service, bot
):
    exchange.create_faults += ["unavailable_before", "unavailable_before"]
    service.execute(bot, Side.BUY, quote_size="20")
    clock.advance(3)
    OrderSync(session_factory, exchange, clock, MOCK, approver=service.fresh_approval).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.PENDING and t.order_id is None
    assert "re-send failed" in t.last_error
    assert exchange.orders_created == 0


# ---- exchange statuses and fills ---------------------------------------------------------------


def test_cancelled_order_with_partial_fills_applies_them_and_stays_cancelled(
    session_factory, clock, exchange, service, bot
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    exchange.finish_as(res.trade.order_id, ExchangeOrderStatus.CANCELLED, D("0.5"))
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.CANCELLED and t.position_applied
    assert t.filled_value + t.fees == D("10")
    _assert_position_equals_fills(session_factory, bot)


@pytest.mark.parametrize("status", [ExchangeOrderStatus.EXPIRED, ExchangeOrderStatus.CANCELLED])
def test_expired_or_cancelled_order_with_partial_fills_carries_the_exchange_reason(
    session_factory, clock, exchange, service, bot, status
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    exchange.finish_as(res.trade.order_id, status, D("0.5"), reason="IOC order not fully filled")
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus(status.value) and t.position_applied
    assert t.failure_code == f"ORDER_{status.value}"
    assert "IOC order not fully filled" in t.failure_reason and "half" not in t.failure_reason


def test_cancelled_order_without_a_reason_says_the_exchange_gave_none(
    session_factory, clock, exchange, service, bot
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    exchange.finish_as(res.trade.order_id, ExchangeOrderStatus.CANCELLED, D("0"))
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.CANCELLED and t.failure_code == "ORDER_CANCELLED"
    assert "no reason given" in t.failure_reason


def test_failed_order_without_fills_is_failed_with_the_exchange_reason(
    session_factory, clock, exchange, service, bot
):
    res = service.execute(bot, Side.BUY, quote_size="20")
    exchange.finish_as(res.trade.order_id, ExchangeOrderStatus.FAILED, D("0"))
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.FAILED and t.failure_code == "ORDER_FAILED"
    assert "test" in t.failure_reason
    with session_factory() as s:
        assert position_repo.get_position(s, bot, MOCK).base_size == 0


def test_filled_order_waits_while_the_fill_list_lags(session_factory, clock, exchange, service, bot):
    service.execute(bot, Side.BUY, quote_size="20")
    exchange.hide_fills = True
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    clock.advance(1)
    sync.sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.OPEN and not t.position_applied
    exchange.hide_fills = False
    clock.advance(1)
    sync.sync_once()
    assert _only_trade(session_factory).status == TradeStatus.SETTLED


def test_fills_are_recorded_once_when_sync_runs_repeatedly(session_factory, clock, exchange, service, bot):
    res = service.execute(bot, Side.BUY, quote_size="20")
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    for _ in range(3):
        clock.advance(1)
        sync.sync_once()
        sync.sync_trade(res.trade.id)
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Fill.id))) == 2


def test_open_orders_are_polled_with_growing_backoff_capped_at_ten_seconds(
    session_factory, clock, service, bot, exchange
):
    exchange.fill_delay = timedelta(hours=1)
    service.execute(bot, Side.BUY, quote_size="20")
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    delays = []
    for _ in range(8):
        t = _only_trade(session_factory)
        clock.set(t.next_sync_at)
        sync.sync_once()
        t2 = _only_trade(session_factory)
        delays.append((t2.next_sync_at - clock.now()).total_seconds())
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [backoff_delay(n) for n in (0, 1, 2, 10)] == [0.25, 0.5, 1.0, 10.0]


def test_trades_not_yet_due_are_not_polled(session_factory, clock, service, bot, exchange):
    exchange.fill_delay = timedelta(hours=1)
    service.execute(bot, Side.BUY, quote_size="20")
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    clock.advance(1)
    assert sync.sync_once().checked == 1
    assert sync.sync_once().checked == 0  # next poll is 0.25 s later


def test_open_trades_are_looked_up_in_one_batched_call(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    a = make_bot(session_factory, clock, "BTC-USD")
    b = make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)
    svc.execute(a, Side.BUY, quote_size="20")
    svc.execute(b, Side.BUY, quote_size="20")
    clock.advance(1)
    report = OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    assert report.settled == 2
    assert exchange.get_orders_calls == 1


def test_reconcile_leaves_production_trades_to_a_production_process(session_factory, clock, exchange):
    bot = make_bot(session_factory, clock)
    prod_ex = FakeExchange(clock, mode=TradingMode.PRODUCTION)
    enable_trading(session_factory, clock, TradingMode.PRODUCTION)
    TradeService(session_factory, prod_ex, clock, TradingMode.PRODUCTION, TEST_LIMITS).execute(
        bot, Side.BUY, quote_size="20"
    )
    clock.advance(1)
    report = reconcile_all(session_factory, exchange, clock, MOCK)
    assert report.checked == 0
    assert _only_trade(session_factory).status == TradeStatus.OPEN


# ---- paper exchange end to end -----------------------------------------------------------------


def test_paper_fill_is_settled_by_the_next_sync_pass(session_factory, clock, bot):
    paper = PaperExchange(session_factory, StaticMarket(clock), clock)
    svc = TradeService(session_factory, paper, clock, MOCK, TEST_LIMITS)
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert res.trade.status == "OPEN"
    clock.advance(0.5)  # default paper fill delay 0.2 s, sync interval 0.5 s
    OrderSync(session_factory, paper, clock, MOCK).sync_once()
    t = _only_trade(session_factory)
    assert t.status == TradeStatus.SETTLED
    assert t.filled_value + t.fees == D("20")
    _assert_position_equals_fills(session_factory, bot)


def test_background_sync_reflects_a_mock_fill_within_two_seconds(session_factory, bot):
    clock = SystemClock()
    paper = PaperExchange(session_factory, StaticMarket(clock), clock, fill_delay_seconds=0.2)
    svc = TradeService(session_factory, paper, clock, MOCK, TEST_LIMITS)
    sync = OrderSync(session_factory, paper, clock, MOCK, interval_seconds=0.5)
    sync.start()
    try:
        res = svc.execute(bot, Side.BUY, quote_size="20")
        started = time.monotonic()  # the order is on the (paper) exchange from here
        status = None
        while time.monotonic() - started < 2.0:
            status = svc.get_trade(res.trade.id).status
            if status == "SETTLED":
                break
            time.sleep(0.05)
        assert status == "SETTLED"
    finally:
        sync.stop()
    assert not sync.running


# ---- drift ---------------------------------------------------------------------------------------


def test_position_drift_reports_difference_without_changing_the_position(
    session_factory, clock, exchange, service, bot
):
    service.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    (drift,) = position_drift(session_factory, exchange, MOCK)
    assert drift.currency == "BTC" and drift.drift == 0
    exchange.balances["BTC"] += D("0.001")
    (drift,) = position_drift(session_factory, exchange, MOCK)
    assert drift.drift == D("0.001")
    assert drift.exchange - drift.positions == D("0.001")
    with session_factory() as s:
        assert position_repo.get_position(s, bot, MOCK).base_size == drift.positions


# ---- real kill -9 rounds -------------------------------------------------------------------------


def _kill_after(db_url: str, bots: list[int], seconds: float) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._fakes", db_url, *map(str, bots)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        time.sleep(seconds)  # let it trade for a while, then kill it mid-flight
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_trading_loses_and_duplicates_nothing(session_factory, db_url, seed):
    import random

    from coinpilot.store.models import PaperFill, PaperOrder

    delays = [random.Random(seed * 100 + i).uniform(0.05, 0.6) for i in range(5)]
    clock = SystemClock()
    bots = [make_bot(session_factory, clock, "BTC-USD"), make_bot(session_factory, clock, "ETH-USD")]
    enable_trading(session_factory, clock)
    for seconds in delays:
        _kill_after(db_url, bots, seconds)
    paper = PaperExchange(session_factory, StaticMarket(clock), clock, fill_delay_seconds=0)
    approval = TradeService(session_factory, paper, clock, MOCK, KILL_LIMITS).fresh_approval
    reconcile_all(session_factory, paper, clock, MOCK, approval)
    with session_factory() as s:
        trades = s.scalars(sa.select(Trade)).all()
        orders = {o.client_order_id: o for o in s.scalars(sa.select(PaperOrder))}
        assert len(trades) > 3, "the child did not trade"
        assert all(t.status.is_final for t in trades), [t.status for t in trades]
        # Every order belongs to exactly one trade, and every trade with an order has that order.
        assert set(orders) <= {t.client_order_id for t in trades}
        for t in trades:
            if t.status == TradeStatus.SETTLED:
                assert orders[t.client_order_id].order_id == t.order_id
        paper_fills = {f.fill_id: f for f in s.scalars(sa.select(PaperFill))}
        our_fills = s.scalars(sa.select(Fill)).all()
        assert sorted(f.fill_id for f in our_fills) == sorted(paper_fills)
    for bot_id in bots:
        _assert_position_equals_fills(session_factory, bot_id)
        _assert_position_replays_from_fills(session_factory, bot_id)
    assert all(d.drift == 0 for d in position_drift(session_factory, paper, MOCK))
