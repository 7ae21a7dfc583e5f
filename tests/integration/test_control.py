"""Trading state (ACTIVE / REDUCING / HALTED: persisted, survives restart), kill switch, safety status."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.risk.control import ControlError, ControlService
from coinpilot.store.models import ControlEvent, Trade
from coinpilot.store.repos import positions as position_repo
from coinpilot.views.safety_status import safety_status
from tests.integration._fakes import TEST_LIMITS, FakeExchange, make_bot

D = Decimal
MOCK = TradingMode.MOCK


class Process:
    """The services one Coinpilot process would build (a "restart" builds new ones)."""

    def __init__(self, session_factory, clock, exchange, mode=MOCK, limits=TEST_LIMITS):
        self.trades = TradeService(session_factory, exchange, clock, mode, limits)
        self.control = ControlService(
            session_factory, clock, mode, exchange=exchange, trade_service=self.trades
        )
        self.sync = OrderSync(session_factory, exchange, clock, mode)


@pytest.fixture
def exchange(clock):
    return FakeExchange(clock)


@pytest.fixture
def proc(session_factory, clock, exchange):
    return Process(session_factory, clock, exchange)


def _events(session_factory) -> list[str]:
    with session_factory() as s:
        return [e.action for e in s.scalars(sa.select(ControlEvent).order_by(ControlEvent.id))]


def test_a_fresh_install_starts_halted_not_enabled_yet(proc):
    state = proc.control.state()
    assert (state["state"], state["reason"]) == ("HALTED", "not enabled yet")


def test_enable_trading_persists_and_is_audited(session_factory, clock, exchange, proc):
    proc.control.enable_trading("alice")
    state = Process(session_factory, clock, exchange).control.state()
    assert (state["state"], state["by"]) == ("ACTIVE", "alice")
    with session_factory() as s:
        event = s.scalars(sa.select(ControlEvent)).one()
        assert (event.action, event.actor, event.mode) == ("state_active", "alice", MOCK)
        assert (event.detail["from"], event.detail["to"]) == ("HALTED", "ACTIVE")


def test_disable_trading_halts_and_blocks_entries(session_factory, clock, proc):
    bot = make_bot(session_factory, clock)
    proc.control.enable_trading("alice")
    proc.control.disable_trading("alice", "going to bed")
    assert proc.control.state()["state"] == "HALTED"
    res = proc.trades.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed
    assert _events(session_factory) == ["state_active", "state_halted"]


def test_production_trading_needs_a_production_ready_process(session_factory, clock):
    control = ControlService(session_factory, clock, TradingMode.PRODUCTION)
    with pytest.raises(ControlError, match="API keys"):
        control.enable_trading("alice")
    assert control.state()["state"] == "HALTED"
    control.enable_trading("alice", production_ready=True)
    assert control.state()["state"] == "ACTIVE"
    assert control.state()["active_mode"] == "production"


def test_kill_halts_with_its_reason_and_a_person_may_activate_again(proc):
    proc.control.enable_trading("alice")
    report = proc.control.engage_emergency("alice", "market crash")
    assert report.engaged
    state = proc.control.state()
    assert (state["state"], state["reason"], state["by"]) == ("HALTED", "market crash", "alice")
    assert proc.control.activate("bob", "checked")["state"] == "ACTIVE"


def test_emergency_stop_survives_a_restart_and_blocks_entries(session_factory, clock, exchange, proc):
    bot = make_bot(session_factory, clock)
    proc.control.enable_trading("alice")
    proc.control.engage_emergency("alice", "test")
    restarted = Process(session_factory, clock, exchange)
    assert restarted.control.state()["state"] == "HALTED"
    res = restarted.trades.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert not res.allowed
    assert "TRADING_HALTED" in {r["code"] for r in res.decision["reasons"]}
    assert exchange.orders_created == 0


def test_emergency_close_is_allowed_after_a_restart_under_the_stop(session_factory, clock, exchange, proc):
    bot = make_bot(session_factory, clock)
    proc.control.enable_trading("alice")
    proc.trades.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    proc.sync.sync_once()
    proc.control.engage_emergency("alice", "test")
    restarted = Process(session_factory, clock, exchange)
    with session_factory() as s:
        size = position_repo.get_position(s, bot, MOCK).base_size
    res = restarted.trades.execute(bot, Side.SELL, base_size=size, intent=TradeIntent.EMERGENCY_CLOSE)
    assert res.allowed, res.decision
    clock.advance(1)
    restarted.sync.sync_once()
    with session_factory() as s:
        assert position_repo.get_position(s, bot, MOCK).base_size == 0


def test_emergency_stop_can_cancel_open_orders_and_close_positions(session_factory, clock, exchange, proc):
    a = make_bot(session_factory, clock, "BTC-USD")
    b = make_bot(session_factory, clock, "ETH-USD")
    proc.control.enable_trading("alice")
    proc.trades.execute(a, Side.BUY, quote_size="20")
    clock.advance(1)
    proc.sync.sync_once()  # bot a holds a position
    exchange.fill_delay = timedelta(hours=1)
    open_trade = proc.trades.execute(b, Side.BUY, quote_size="20").trade  # still open
    report = proc.control.engage_emergency("alice", "panic", cancel_open_orders=True, close_positions=True)
    assert report.cancelled == {open_trade.order_id: True}
    assert [c["bot_id"] for c in report.closing] == [a]
    assert report.closing[0]["allowed"] is True
    exchange.fill_delay = timedelta(0)
    clock.advance(1)
    proc.sync.sync_once()
    with session_factory() as s:
        closes = s.scalars(sa.select(Trade).where(Trade.intent == TradeIntent.EMERGENCY_CLOSE)).all()
        assert len(closes) == 1 and closes[0].status == TradeStatus.SETTLED
        assert position_repo.get_position(s, a, MOCK).base_size == 0
        assert s.get(Trade, open_trade.id).status == TradeStatus.CANCELLED


def test_release_moves_halted_to_reducing_never_to_active(session_factory, proc):
    proc.control.enable_trading("alice")
    proc.control.engage_emergency("alice", "test")
    state = proc.control.release_emergency("bob", "checked")
    assert (state["state"], state["by"]) == ("REDUCING", "bob")
    with pytest.raises(ControlError):
        proc.control.release_emergency("bob")
    assert _events(session_factory) == ["state_active", "state_halted", "state_reducing"]


def test_safety_status_reports_limits_usage_cooldowns_and_emergency(session_factory, clock, exchange):
    from dataclasses import replace

    limits = replace(TEST_LIMITS, cooldown_minutes=15)
    p = Process(session_factory, clock, exchange, limits=limits)
    bot = make_bot(session_factory, clock)
    idle = make_bot(session_factory, clock, "ETH-USD")
    p.control.enable_trading("alice")
    p.trades.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    p.sync.sync_once()
    clock.advance(60)
    status = safety_status(p.control, limits)
    assert status["mode"] == "mock" and status["state"] == "ACTIVE"
    assert status["limits"]["max_daily_trades"] == limits.max_daily_trades
    assert status["today"]["trades"] == 1
    rows = {r["bot_id"]: r for r in status["bots"]}
    assert rows[bot]["trades_today"] == 1 and rows[idle]["trades_today"] == 0
    assert D(rows[bot]["cooldown_remaining_seconds"]) == D(15 * 60 - 60)
    assert D(rows[idle]["cooldown_remaining_seconds"]) == 0
    assert status["exposure"]["positions_cost"] == "20"


def test_emergency_close_includes_a_buy_that_filled_but_was_not_yet_synced(
    session_factory, clock, exchange, proc
):
    bot = make_bot(session_factory, clock)
    proc.control.enable_trading("alice")
    buy = proc.trades.execute(bot, Side.BUY, quote_size="20").trade
    clock.advance(1)  # filled on the exchange; no sync pass has run yet
    report = proc.control.engage_emergency("alice", "panic", close_positions=True)
    assert report.closing and report.closing[0]["allowed"] is True, report.to_dict()
    clock.advance(1)
    proc.sync.sync_once()
    with session_factory() as s:
        bought = s.get(Trade, buy.id)
        close = s.scalars(sa.select(Trade).where(Trade.intent == TradeIntent.EMERGENCY_CLOSE)).one()
        assert close.filled_base_size == bought.filled_base_size
        assert position_repo.get_position(s, bot, MOCK).base_size == 0
