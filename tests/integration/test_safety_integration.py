"""Safety with persisted data: fail closed, circuit breakers, cooldown, audit contents."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import BotStatus, Side, TradeIntent, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.risk.control import ControlService
from coinpilot.store.models import Bot, ControlEvent, SafetyAudit, Trade
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

D = Decimal
MOCK = TradingMode.MOCK


@pytest.fixture
def exchange(clock):
    return FakeExchange(clock)


def _codes(result) -> set[str]:
    return {r["code"] for r in result.decision["reasons"]}


def _trade_count(session_factory) -> int:
    with session_factory() as s:
        return int(s.scalar(sa.select(sa.func.count(Trade.id))) or 0)


def _losing_round_trip(session_factory, clock, exchange, svc, bot):
    """Buy 20 USD of BTC, sell it all 20 % lower: a realised loss of about 4 USD."""
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    exchange.market.prices["BTC-USD"] = (D("50000"), D("50010"))
    assert svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed
    clock.advance(1)
    sync.sync_once()
    with session_factory() as s:
        size = position_repo.get_position(s, bot, MOCK).base_size
    exchange.market.prices["BTC-USD"] = (D("40000"), D("40010"))
    res = svc.execute(bot, Side.SELL, base_size=size, intent=TradeIntent.STOP_LOSS)
    assert res.allowed, res.decision
    clock.advance(1)
    sync.sync_once()
    with session_factory() as s:
        return s.get(Trade, res.trade.id).realized_pnl


def test_an_exception_while_gathering_the_context_refuses_and_is_audited(
    session_factory, clock, exchange, monkeypatch
):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(trade_repo, "realized_today_and_week", broken)
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed and res.trade is None
    assert _codes(res) == {"safety_check_error"}
    assert _trade_count(session_factory) == 0
    assert exchange.create_calls == 0
    with session_factory() as s:
        audit = s.get(SafetyAudit, res.audit_id)
        assert audit.allowed is False and "database hiccup" in audit.reasons[0]["message"]


def test_unavailable_balances_refuse_the_trade(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    exchange.fail_balances = True
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed and _codes(res) == {"market_data_unavailable"}
    assert _trade_count(session_factory) == 0


def test_unavailable_prices_refuse_the_trade(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    exchange.market.fail = True
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed and _codes(res) == {"market_data_unavailable"}


def test_daily_loss_limit_moves_trading_to_reducing_with_its_reason(session_factory, clock, exchange):
    limits = replace(TEST_LIMITS, daily_loss_limit_usd=D("3"))
    svc = TradeService(session_factory, exchange, clock, MOCK, limits)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    loss = _losing_round_trip(session_factory, clock, exchange, svc, bot)
    assert loss < D("-3")
    res = svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert not res.allowed and "DAILY_LOSS_LIMIT" in _codes(res)
    state = ControlService(session_factory, clock, MOCK).state()
    assert (state["state"], state["by"]) == ("REDUCING", "daily_loss_breaker")
    assert "daily loss breaker" in state["reason"]
    with session_factory() as s:
        event = s.scalars(sa.select(ControlEvent)).one()
        assert (event.action, event.actor) == ("state_reducing", "daily_loss_breaker")


def test_daily_loss_per_position_blocks_that_bot_only(session_factory, clock, exchange):
    limits = replace(TEST_LIMITS, daily_loss_limit_per_position_usd=D("3"))
    svc = TradeService(session_factory, exchange, clock, MOCK, limits)
    bot = make_bot(session_factory, clock)
    other = make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)
    assert _losing_round_trip(session_factory, clock, exchange, svc, bot) < D("-3")
    res = svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert not res.allowed and _codes(res) == {"DAILY_POSITION_LOSS_LIMIT"}
    assert svc.execute(other, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed
    assert ControlService(session_factory, clock, MOCK).state()["state"] == "ACTIVE"
    clock.advance(24 * 3600)  # a new UTC day
    assert svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed


def test_consecutive_losses_lock_buys_until_the_lock_expires(session_factory, clock, exchange):
    limits = replace(TEST_LIMITS, max_consecutive_losses=1, loss_streak_lock_hours=2)
    svc = TradeService(session_factory, exchange, clock, MOCK, limits)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    _losing_round_trip(session_factory, clock, exchange, svc, bot)
    for intent in (TradeIntent.ENTRY, TradeIntent.MANUAL):
        res = svc.execute(bot, Side.BUY, quote_size="20", intent=intent)
        assert not res.allowed and "CONSECUTIVE_LOSSES" in _codes(res)
    with session_factory() as s:
        assert s.get(Bot, bot).status == BotStatus.RUNNING  # locked, not paused
    clock.advance(2 * 3600 - 10)
    assert not svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed
    clock.advance(10)
    assert svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed


def test_a_person_resuming_the_bot_clears_the_loss_lock_and_it_trades_again(session_factory, clock, exchange):
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.models import ControlEvent

    limits = replace(TEST_LIMITS, max_consecutive_losses=1)
    svc = TradeService(session_factory, exchange, clock, MOCK, limits)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    _losing_round_trip(session_factory, clock, exchange, svc, bot)
    assert not svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed
    with session_factory() as s, s.begin():
        b = s.get(Bot, bot)
        b.status = BotStatus.PAUSED
        bot_control.start(s, b, now=clock.now(), actor="alice", mode=MOCK)
    clock.advance(1)
    assert svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed
    with session_factory() as s:
        event = s.scalars(sa.select(ControlEvent).where(ControlEvent.action == "bot_started")).one()
        assert event.actor == "alice" and event.detail["loss_lock_cleared"] is True
        assert event.detail["from"] == "PAUSED"
    # a new losing exit after the resume locks again
    clock.advance(1)
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    sync.sync_once()
    _losing_round_trip(session_factory, clock, exchange, svc, bot)
    assert not svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY).allowed


def test_losses_in_production_do_not_trip_mock_breakers(session_factory, clock, exchange):
    limits = replace(TEST_LIMITS, daily_loss_limit_usd=D("3"))
    bot = make_bot(session_factory, clock)
    prod_ex = FakeExchange(clock, mode=TradingMode.PRODUCTION)
    prod = TradeService(session_factory, prod_ex, clock, TradingMode.PRODUCTION, limits)
    enable_trading(session_factory, clock, TradingMode.PRODUCTION)
    sync = OrderSync(session_factory, prod_ex, clock, TradingMode.PRODUCTION)
    prod.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    sync.sync_once()
    with session_factory() as s:
        size = position_repo.get_position(s, bot, TradingMode.PRODUCTION).base_size
    prod_ex.market.prices["BTC-USD"] = (D("40000"), D("40010"))
    prod.execute(bot, Side.SELL, base_size=size, intent=TradeIntent.STOP_LOSS)
    clock.advance(1)
    sync.sync_once()
    enable_trading(session_factory, clock, MOCK)
    mock = TradeService(session_factory, exchange, clock, MOCK, limits)
    res = mock.execute(bot, Side.BUY, quote_size="20")
    assert res.allowed, res.decision


def test_cooldown_after_a_fill_refuses_buys_until_it_elapses(session_factory, clock, exchange):
    limits = replace(TEST_LIMITS, cooldown_minutes=15)
    svc = TradeService(session_factory, exchange, clock, MOCK, limits)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    svc.execute(bot, Side.BUY, quote_size="20")
    clock.advance(1)
    OrderSync(session_factory, exchange, clock, MOCK).sync_once()
    clock.advance(14 * 60)
    assert "COOLDOWN" in _codes(svc.execute(bot, Side.BUY, quote_size="20"))
    clock.advance(60)
    assert svc.execute(bot, Side.BUY, quote_size="20").allowed


def test_an_unfinished_trade_blocks_the_next_order_of_the_bot(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    exchange.create_faults.append("unavailable_before")  # stays PENDING: outcome unknown
    svc.execute(bot, Side.BUY, quote_size="20")
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert "OPEN_TRADE_EXISTS" in _codes(res)


def test_max_tranches_counts_settled_entry_trades(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock, max_tranches=2)
    enable_trading(session_factory, clock)
    sync = OrderSync(session_factory, exchange, clock, MOCK)
    for _ in range(2):
        assert svc.execute(bot, Side.BUY, quote_size="20").allowed
        clock.advance(1)
        sync.sync_once()
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert "MAX_TRANCHES" in _codes(res)
    with session_factory() as s:
        pos = position_repo.get_position(s, bot, MOCK)
        assert pos.status == "OPEN" and pos.cost == D("40")


def test_audit_row_holds_the_request_context_and_decision(session_factory, clock, exchange):
    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    res = svc.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    with session_factory() as s:
        audit = s.get(SafetyAudit, res.audit_id)
        assert audit.allowed and audit.mode == MOCK and audit.bot_id == bot
        assert D(audit.request["quote_size"]) == D("20") and D(audit.request["price"]) == D("50010")
        ctx = audit.inputs["context"]
        assert ctx["trades_today_total"] == 0 and D(ctx["quote_available"]) == D("1000")
        assert audit.inputs["decision"]["allowed"] is True
        assert "daily_counts" in audit.inputs["decision"]["checks"]


@pytest.mark.parametrize(
    "module, reader",
    [
        ("trades", "recent_exits"),  # the last read: the transaction is poisoned mid-way
        ("snapshot", "locked_facts"),  # the combined read of bot, position and counters
    ],
)
def test_a_failing_sql_statement_in_the_context_refuses_and_is_still_audited(
    session_factory, clock, exchange, monkeypatch, module, reader
):
    from coinpilot.store.repos import snapshot

    svc = TradeService(session_factory, exchange, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)

    def bad_sql(session, *args, **kwargs):
        session.execute(sa.text("SELECT no_such_column FROM no_such_table"))

    monkeypatch.setattr({"trades": trade_repo, "snapshot": snapshot}[module], reader, bad_sql)
    res = svc.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed and _codes(res) == {"safety_check_error"}
    assert _trade_count(session_factory) == 0 and exchange.create_calls == 0
    with session_factory() as s:
        assert s.get(SafetyAudit, res.audit_id).allowed is False
