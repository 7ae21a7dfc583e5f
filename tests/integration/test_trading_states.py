"""Trading states and the breakers, under the failures they exist for (issue 9, part A).

- the kill switch never sends an order whose first send's outcome is unknown;
- an unsent PENDING trade is looked up, re-sent only with a fresh approval while young, else
  FAILED "not sent", and adopted if its order turns up later;
- a breaker trip (REDUCING) leaves every bot's stop-loss working;
- the daily loss breaker trips right after the settlement that reaches it, and on an
  unrealised loss, with realised P&L dated by its fill time;
- the state, its reason, who and when survive a restart and are audited.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.trading_state import EXCHANGE_BREAKER, LOSS_BREAKER
from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.risk.control import ControlService
from coinpilot.engine.risk.loss_breaker import DailyLossBreaker
from coinpilot.store.models import ControlEvent, Trade
from coinpilot.store.repos import positions as position_repo
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

D = Decimal
MOCK = TradingMode.MOCK
LIMITS = replace(TEST_LIMITS, daily_loss_limit_usd=D(5))


class Process:
    """The services one process builds, wired as ``build_services`` wires them."""

    def __init__(self, sf, clock, exchange, limits=LIMITS):
        self.trades = TradeService(sf, exchange, clock, MOCK, limits)
        self.control = ControlService(sf, clock, MOCK, exchange=exchange, trade_service=self.trades)
        self.loss_breaker = DailyLossBreaker(sf, exchange, self.control, clock, MOCK, limits)
        self.sync = OrderSync(
            sf,
            exchange,
            clock,
            MOCK,
            approver=self.trades.fresh_approval,
            after_settlement=self.loss_breaker.check_quietly,
        )


@pytest.fixture
def exchange(clock):
    return FakeExchange(clock)


@pytest.fixture
def proc(session_factory, clock, exchange):
    return Process(session_factory, clock, exchange)


def _trade(sf, trade_id: int) -> Trade:
    with sf() as s:
        t = s.get(Trade, trade_id)
        assert t is not None
        s.expunge(t)
        return t


def _unsent_buy(sf, clock, exchange, proc, pair: str = "BTC-USD") -> int:
    """A BUY whose first send timed out before reaching the exchange: PENDING, no order id."""
    bot = make_bot(sf, clock, pair)
    exchange.create_faults.append("unavailable_before")
    res = proc.trades.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert res.allowed and res.trade is not None
    t = _trade(sf, res.trade.id)
    assert t.status == TradeStatus.PENDING and t.order_id is None
    return t.id


def _hold(sf, clock, proc, pair: str = "BTC-USD") -> int:
    bot = make_bot(sf, clock, pair)
    assert proc.trades.execute(bot, Side.BUY, quote_size="20").allowed
    clock.advance(1)
    proc.sync.sync_once()
    return bot


def _position(sf, bot: int) -> Decimal:
    with sf() as s:
        pos = position_repo.get_position(s, bot, MOCK)
        return pos.base_size if pos else D(0)


# ---- the kill switch and unsent orders -----------------------------------------------------------


def test_kill_switch_with_an_unsent_pending_buy_places_nothing(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    trade_id = _unsent_buy(sf, clock, exchange, proc)
    clock.advance(3)  # past the send grace: the sync would pick it up
    report = proc.control.engage_emergency("alice", "panic", cancel_open_orders=True)
    assert report.engaged
    clock.advance(3)
    proc.sync.sync_once()  # the background sync, too
    assert exchange.orders_created == 0
    t = _trade(sf, trade_id)
    assert t.status == TradeStatus.FAILED and t.do_not_send
    assert t.failure_reason is not None and t.failure_reason.startswith("not sent")


def test_halting_marks_every_unsent_pending_trade_do_not_send_in_the_same_transaction(
    session_factory, clock, exchange, proc
):
    sf = session_factory
    enable_trading(sf, clock)
    trade_id = _unsent_buy(sf, clock, exchange, proc)
    proc.control.halt("alice", "bed time")
    assert _trade(sf, trade_id).do_not_send
    with sf() as s:
        event = s.scalars(sa.select(ControlEvent).order_by(ControlEvent.id.desc())).first()
        assert event is not None and event.detail["unsent_marked_do_not_send"] == 1


def test_a_stale_unsent_trade_ends_failed_and_is_adopted_when_its_order_turns_up(
    session_factory, clock, exchange, proc
):
    sf = session_factory
    enable_trading(sf, clock)
    trade_id = _unsent_buy(sf, clock, exchange, proc)
    clock.advance(31)  # older than the 30 s bound
    proc.sync.sync_once()
    t = _trade(sf, trade_id)
    assert (t.status, t.failure_code) == (TradeStatus.FAILED, "NOT_SENT")
    assert "stale" in (t.failure_reason or "")
    assert exchange.orders_created == 0
    # The lost request reaches the exchange after all.
    exchange.place_market_order(
        OrderRequest(t.client_order_id, t.pair, Side.BUY, t.requested_quote_size, None)
    )
    for _ in range(3):
        clock.advance(6)
        proc.sync.sync_once()
    t = _trade(sf, trade_id)
    assert t.status == TradeStatus.SETTLED and t.order_id is not None
    assert any("adopted" in h["note"] for h in t.status_history)
    assert exchange.orders_created == 1


def test_a_young_unsent_trade_is_resent_with_a_fresh_approval(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    trade_id = _unsent_buy(sf, clock, exchange, proc)
    clock.advance(3)
    proc.sync.sync_once()
    proc.sync.sync_once()
    t = _trade(sf, trade_id)
    assert t.order_id is not None and exchange.orders_created == 1
    assert exchange.find_order_calls >= 1  # looked up before the re-send


def test_a_young_unsent_buy_is_not_resent_once_trading_is_reducing(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    trade_id = _unsent_buy(sf, clock, exchange, proc)
    proc.control.reduce("alice", "wait and see")
    clock.advance(3)
    proc.sync.sync_once()
    t = _trade(sf, trade_id)
    assert t.status == TradeStatus.FAILED and exchange.orders_created == 0
    assert "refused on a fresh approval" in (t.failure_reason or "")
    assert "REDUCING" in (t.failure_reason or "")


def test_an_unsent_trade_found_on_the_exchange_is_adopted_not_resent(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    bot = make_bot(sf, clock)
    exchange.create_faults.append("unavailable_after")  # created, but the answer was lost
    res = proc.trades.execute(bot, Side.BUY, quote_size="20")
    proc.control.halt("alice", "halt right after")
    clock.advance(3)
    proc.sync.sync_once()
    proc.sync.sync_once()
    assert exchange.create_calls == 1  # never sent again
    assert _trade(sf, res.trade.id).status == TradeStatus.SETTLED


# ---- breakers --------------------------------------------------------------------------------------


def test_a_breaker_trip_leaves_other_bots_stop_losses_working(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    a = _hold(sf, clock, proc, "BTC-USD")
    b = _hold(sf, clock, proc, "ETH-USD")
    exchange.market.prices["BTC-USD"] = (D(30000), D(30010))
    size = _position(sf, a)
    assert proc.trades.execute(a, Side.SELL, base_size=size, intent=TradeIntent.STOP_LOSS).allowed
    clock.advance(1)
    proc.sync.sync_once()  # bot a's loss settles: the daily loss breaker trips
    state = proc.control.state()
    assert (state["state"], state["by"]) == ("REDUCING", LOSS_BREAKER)
    exchange.market.prices["ETH-USD"] = (D(2000), D(2001))
    res = proc.trades.execute(b, Side.SELL, base_size=_position(sf, b), intent=TradeIntent.STOP_LOSS)
    assert res.allowed, res.decision
    refused = proc.trades.execute(b, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert {r["code"] for r in refused.decision["reasons"]} >= {"TRADING_REDUCING"}


def test_the_daily_loss_trips_right_after_the_settlement_that_reaches_it(
    session_factory, clock, exchange, proc
):
    sf = session_factory
    enable_trading(sf, clock)
    bot = _hold(sf, clock, proc)
    assert proc.control.state()["state"] == "ACTIVE"
    exchange.market.prices["BTC-USD"] = (D(30000), D(30010))
    proc.trades.execute(bot, Side.SELL, base_size=_position(sf, bot), intent=TradeIntent.STOP_LOSS)
    clock.advance(1)
    proc.sync.sync_once()  # no buy attempt needed: the settlement itself trips it
    state = proc.control.state()
    assert state["state"] == "REDUCING" and "daily loss limit reached" in state["reason"]
    with sf() as s:
        event = s.scalars(sa.select(ControlEvent).order_by(ControlEvent.id.desc())).first()
        assert (event.action, event.actor) == ("state_reducing", LOSS_BREAKER)


def test_the_daily_loss_trips_on_an_unrealised_loss(session_factory, clock, exchange, proc):
    sf = session_factory
    enable_trading(sf, clock)
    _hold(sf, clock, proc)
    assert proc.loss_breaker.check() is False
    exchange.market.prices["BTC-USD"] = (D(30000), D(30010))  # about -$8 at the bid
    assert proc.loss_breaker.check() is True
    assert proc.loss_breaker.last is not None and proc.loss_breaker.last.realised_today == 0
    assert proc.control.state()["state"] == "REDUCING"


def test_a_loss_breaker_only_moves_active_to_reducing_never_halted_and_never_back(
    session_factory, clock, exchange, proc
):
    enable_trading(session_factory, clock)
    proc.control.halt("alice", "by hand")
    assert proc.control.breaker_trip(LOSS_BREAKER, "loss") is False
    assert proc.control.state()["state"] == "HALTED"
    proc.control.activate("alice")
    assert proc.control.breaker_trip(LOSS_BREAKER, "loss") is True
    assert proc.control.breaker_recover(LOSS_BREAKER, "quiet") is False
    assert proc.control.state()["state"] == "REDUCING"


def test_realised_pnl_is_dated_by_its_fill_time_not_its_settlement(session_factory, clock, exchange, proc):
    sf = session_factory
    clock.set(datetime(2024, 3, 1, 23, 59, 0, tzinfo=UTC))
    enable_trading(sf, clock)
    bot = _hold(sf, clock, proc)
    res = proc.trades.execute(bot, Side.SELL, base_size=_position(sf, bot), intent=TradeIntent.MANUAL)
    clock.advance(1)
    filled_at = clock.now()
    exchange.get_order(_trade(sf, res.trade.id).order_id)  # the exchange fills it before midnight
    clock.set(datetime(2024, 3, 2, 0, 0, 5, tzinfo=UTC))
    proc.sync.sync_once()  # settled after midnight
    t = _trade(sf, res.trade.id)
    assert t.status == TradeStatus.SETTLED and t.settled_at >= datetime(2024, 3, 2, tzinfo=UTC)
    assert t.realized_at == filled_at


# ---- persistence ----------------------------------------------------------------------------------


def test_the_trading_state_survives_a_restart_and_every_change_is_audited(
    session_factory, clock, exchange, proc
):
    sf = session_factory
    proc.control.activate("alice", "morning")
    clock.advance(60)
    proc.control.reduce("bob", "volatile market")
    restarted = Process(sf, clock, exchange)
    state = restarted.control.state()
    assert (state["state"], state["reason"], state["by"]) == ("REDUCING", "volatile market", "bob")
    assert state["since"] == clock.now().isoformat()
    with sf() as s:
        events = s.scalars(sa.select(ControlEvent).order_by(ControlEvent.id)).all()
        assert [(e.action, e.actor, e.detail["to"]) for e in events] == [
            ("state_active", "alice", "ACTIVE"),
            ("state_reducing", "bob", "REDUCING"),
        ]


def test_active_in_mock_mode_is_halted_for_production(session_factory, clock, proc):
    proc.control.activate("alice")
    prod = ControlService(session_factory, clock, TradingMode.PRODUCTION)
    state = prod.state()
    assert state["state"] == "HALTED" and "not enabled for production" in state["reason"]


def test_the_exchange_breaker_recovers_only_its_own_reducing(session_factory, clock, proc):
    enable_trading(session_factory, clock)
    assert proc.control.breaker_trip(EXCHANGE_BREAKER, "503s") is True
    assert proc.control.breaker_recover(EXCHANGE_BREAKER, "quiet for 10 min") is True
    assert proc.control.state()["state"] == "ACTIVE"
    proc.control.breaker_trip(EXCHANGE_BREAKER, "503s")
    proc.control.reduce("alice", "I keep it reducing")
    assert proc.control.breaker_recover(EXCHANGE_BREAKER, "quiet") is False
    assert proc.control.state()["by"] == "alice"


# ---- order sync isolation --------------------------------------------------------------------------


def _break_settlement_of(monkeypatch, trade_id: int) -> None:
    """An unexpected error (not a SettlementError) whenever this one trade is settled."""
    from coinpilot.engine.orders import sync_writes as sync_module

    real = sync_module.settle_trade

    def settle(session, trade, now, *args, **kwargs):
        if trade.id == trade_id:
            raise RuntimeError("corrupt fill data")
        return real(session, trade, now, *args, **kwargs)

    monkeypatch.setattr(sync_module, "settle_trade", settle)


def test_an_unexpected_error_in_one_trade_does_not_abort_the_sync_of_the_others(
    session_factory, clock, exchange, proc, monkeypatch
):
    sf = session_factory
    enable_trading(sf, clock)
    a, b = make_bot(sf, clock, "BTC-USD"), make_bot(sf, clock, "ETH-USD")
    stuck = proc.trades.execute(a, Side.BUY, quote_size="20").trade.id
    fine = proc.trades.execute(b, Side.BUY, quote_size="20").trade.id
    _break_settlement_of(monkeypatch, stuck)
    clock.advance(1)
    report = proc.sync.sync_once()
    assert _trade(sf, fine).status == TradeStatus.SETTLED
    assert _trade(sf, stuck).status != TradeStatus.SETTLED
    assert "corrupt fill data" in (_trade(sf, stuck).last_error or "")
    assert any("corrupt fill data" in e for e in report.errors)


def test_an_unsettleable_trade_needs_attention_and_no_longer_blocks_its_bots_stop_loss(
    session_factory, clock, exchange, proc, monkeypatch
):
    from coinpilot.engine.loop.bot_loop import bots_with_open_trades

    sf = session_factory
    enable_trading(sf, clock)
    bot = _hold(sf, clock, proc)  # a settled position
    held = _position(sf, bot)
    stuck = proc.trades.execute(bot, Side.BUY, quote_size="10").trade.id
    _break_settlement_of(monkeypatch, stuck)
    clock.advance(1)
    proc.sync.sync_once()
    refused = proc.trades.validate(bot, Side.SELL, base_size=held, intent=TradeIntent.STOP_LOSS)
    assert "OPEN_TRADE_EXISTS" in {r["code"] for r in refused.decision["reasons"]}  # within its bounds
    for _ in range(20):  # past the bound of tries or minutes
        clock.advance(60)
        proc.sync.sync_once()
    t = _trade(sf, stuck)
    assert t.attention_reason is not None and "corrupt fill data" in t.attention_reason
    assert t.status == TradeStatus.FILLED or not t.status.is_final  # still visible, still synced
    with sf() as s:
        assert bots_with_open_trades(s, MOCK, [bot]) == set()  # the engine plans its exits again
    exchange.market.prices["BTC-USD"] = (D(40000), D(40010))
    res = proc.trades.execute(bot, Side.SELL, base_size=held, intent=TradeIntent.STOP_LOSS)
    assert res.allowed, res.decision  # sells only the settled position
    buy = proc.trades.validate(bot, Side.BUY, quote_size="10", intent=TradeIntent.ENTRY)
    assert "TRADE_NEEDS_ATTENTION" in {r["code"] for r in buy.decision["reasons"]}
