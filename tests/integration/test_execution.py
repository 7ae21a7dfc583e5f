"""Trade execution: happy path to SETTLED, failure mapping, bad input, mode separation."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import InvalidTradeRequest, TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.store.models import Position, SafetyAudit, Trade
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos.dto import position_dto
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

D = Decimal


@pytest.fixture
def exchange(clock):
    return FakeExchange(clock)


@pytest.fixture
def service(session_factory, exchange, clock):
    return TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)


@pytest.fixture
def sync(session_factory, exchange, clock):
    return OrderSync(session_factory, exchange, clock, TradingMode.MOCK)


def _settle(clock, sync, seconds=1.0):
    clock.advance(seconds)
    return sync.sync_once()


def test_buy_goes_from_pending_through_open_to_settled_with_fills_recorded(
    session_factory, clock, service, sync
):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    result = service.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.MANUAL)
    assert result.allowed and result.trade is not None
    assert result.trade.status == "OPEN" and result.trade.order_id
    _settle(clock, sync)
    trade = service.get_trade(result.trade.id)
    assert trade is not None and trade.status == "SETTLED"
    assert [h["status"] for h in trade.status_history] == ["PENDING", "OPEN", "FILLED", "SETTLED"]
    assert len(trade.fills) == 2
    assert trade.filled_value + trade.fees == D("20")  # quote-sized buy: exact from the fills
    assert trade.filled_base_size == sum(f.base_size for f in trade.fills)
    assert trade.position_applied is True


def test_settled_buy_position_equals_the_fills_to_the_cent(session_factory, clock, service, sync):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    service.execute(bot, Side.BUY, quote_size="20")
    _settle(clock, sync)
    with session_factory() as s:
        trade = s.scalars(sa.select(Trade)).one()
        pos = position_repo.get_position(s, bot, TradingMode.MOCK)
        assert pos is not None
        assert pos.base_size == trade.filled_base_size
        assert pos.cost == D("20")  # value + fee of a quote-sized buy
        assert pos.total_fees == trade.fees
        assert len(pos.tranches) == 1 and pos.tranches[0].trade_id == trade.id
        dto = position_dto(pos, mark=D("50000"))
        assert dto.status == "BUILDING"
        assert dto.unrealized_pnl == pos.base_size * D("50000") - D("20")


def test_sell_after_buy_realises_pnl_from_fills(session_factory, clock, service, sync, exchange):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    service.execute(bot, Side.BUY, quote_size="20")
    _settle(clock, sync)
    with session_factory() as s:
        size = position_repo.get_position(s, bot, TradingMode.MOCK).base_size
    exchange.market.prices["BTC-USD"] = (D("55000"), D("55010"))
    res = service.execute(bot, Side.SELL, base_size=size, intent=TradeIntent.TAKE_PROFIT)
    assert res.allowed, res.decision
    _settle(clock, sync)
    with session_factory() as s:
        sell = s.get(Trade, res.trade.id)
        pos = position_repo.get_position(s, bot, TradingMode.MOCK)
        proceeds = sum(f.base_size * f.price - f.fee for f in sell.fills)
        assert sell.status == TradeStatus.SETTLED
        assert sell.realized_pnl == proceeds - D("20")
        assert pos.base_size == 0 and pos.cost == 0
        assert pos.realized_pnl == sell.realized_pnl
        assert pos.status == "FLAT"


def test_rejected_order_becomes_failed_with_a_readable_reason(session_factory, clock, service, exchange):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    exchange.create_faults.append("reject")
    res = service.execute(bot, Side.BUY, quote_size="20")
    assert res.trade is not None
    assert res.trade.status == "FAILED"
    assert res.trade.failure_code == "INSUFFICIENT_FUND"
    assert "not enough USD" in (res.trade.failure_reason or "")
    assert exchange.orders_created == 0


def test_rejected_trade_does_not_count_towards_the_daily_limit(session_factory, clock, exchange):
    from dataclasses import replace

    svc = TradeService(
        session_factory,
        exchange,
        clock,
        TradingMode.MOCK,
        replace(TEST_LIMITS, max_daily_trades=1, max_daily_trades_per_bot=1),
    )
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    exchange.create_faults.append("reject")
    assert svc.execute(bot, Side.BUY, quote_size="20").trade.status == "FAILED"
    second = svc.execute(bot, Side.BUY, quote_size="20")
    assert second.allowed and second.trade.status == "OPEN"


def test_refused_request_writes_only_an_audit_row(session_factory, clock, service, exchange):
    bot = make_bot(session_factory, clock)  # a fresh install is HALTED
    res = service.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed and res.trade is None
    assert any(r["code"] == "TRADING_HALTED" for r in res.decision["reasons"])
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == 0
        audit = s.get(SafetyAudit, res.audit_id)
        assert audit.allowed is False and audit.mode == TradingMode.MOCK
        assert audit.inputs["context"]["trading_state"] == "HALTED"
    assert exchange.create_calls == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"quote_size": "-5"}, "quote_size"),
        ({"quote_size": "0"}, "quote_size"),
        ({"quote_size": "NaN"}, "quote_size"),
        ({"quote_size": 5.5}, "quote_size"),
        ({"quote_size": "abc"}, "quote_size"),
        ({"quote_size": "5", "base_size": "0.1"}, "size"),
        ({}, "size"),
        ({"quote_size": "0.5"}, "quote_size"),  # below the product minimum of 1
    ],
)
def test_bad_input_raises_invalid_trade_request_and_creates_no_trade(
    session_factory, clock, service, exchange, kwargs, field
):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    with pytest.raises(InvalidTradeRequest) as err:
        service.execute(bot, Side.BUY, **kwargs)
    assert err.value.field == field
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == 0
        audits = s.scalars(sa.select(SafetyAudit)).all()
        assert len(audits) == 1 and audits[0].allowed is False
    assert exchange.create_calls == 0


def test_unknown_bot_is_invalid_input(session_factory, clock, service):
    with pytest.raises(InvalidTradeRequest) as err:
        service.execute(999, Side.BUY, quote_size="20")
    assert err.value.field == "bot_id"


def test_unknown_side_is_invalid_input(session_factory, clock, service):
    bot = make_bot(session_factory, clock)
    with pytest.raises(InvalidTradeRequest) as err:
        service.execute(bot, "hold", quote_size="20")
    assert err.value.field == "side"


def test_trade_records_mode_snapshots_and_safety_decision(session_factory, clock, service):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    res = service.execute(
        bot,
        Side.BUY,
        quote_size="20",
        intent=TradeIntent.ENTRY,
        signal_snapshot={"score": D("-0.5")},
        confirmation_snapshot={"held": 300},
        temperature="hot",
    )
    t = res.trade
    assert t.mode == "mock" and t.intent == "entry" and t.temperature == "hot"
    assert t.signal_snapshot == {"score": "-0.5"}
    assert t.confirmation_snapshot == {"held": 300}
    assert t.safety_decision["allowed"] is True and t.safety_decision["audit_id"] == res.audit_id
    assert t.to_dict()["requested_quote_size"] == "20"


def test_validate_is_a_dry_run_that_places_nothing(session_factory, clock, service, exchange):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    res = service.validate(bot, Side.BUY, quote_size="20")
    assert res.allowed and res.trade is None
    assert exchange.create_calls == 0
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == 0


def test_production_trades_do_not_count_in_mock_figures(session_factory, clock, exchange):
    from dataclasses import replace

    limits = replace(TEST_LIMITS, max_daily_trades=1, max_daily_trades_per_bot=1)
    bot = make_bot(session_factory, clock)
    prod_exchange = FakeExchange(clock, mode=TradingMode.PRODUCTION)
    prod = TradeService(session_factory, prod_exchange, clock, TradingMode.PRODUCTION, limits)
    enable_trading(session_factory, clock, TradingMode.PRODUCTION)
    assert prod.execute(bot, Side.BUY, quote_size="20").allowed
    clock.advance(1)
    OrderSync(session_factory, prod_exchange, clock, TradingMode.PRODUCTION).sync_once()
    enable_trading(session_factory, clock, TradingMode.MOCK)
    mock = TradeService(session_factory, exchange, clock, TradingMode.MOCK, limits)
    res = mock.execute(bot, Side.BUY, quote_size="20")
    assert res.allowed, res.decision  # the production trade is not in the mock count
    with session_factory() as s:
        audit = s.get(SafetyAudit, res.audit_id)
        assert audit.inputs["context"]["trades_today_total"] == 0
        assert audit.inputs["context"]["position_cost"] == "0"
        positions = s.scalars(sa.select(Position).order_by(Position.mode)).all()
        assert {p.mode for p in positions} == {TradingMode.MOCK, TradingMode.PRODUCTION}


def test_trading_enabled_for_one_mode_does_not_enable_the_other(session_factory, clock, exchange):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock, TradingMode.MOCK)
    prod = TradeService(
        session_factory,
        FakeExchange(clock, mode=TradingMode.PRODUCTION),
        clock,
        TradingMode.PRODUCTION,
        TEST_LIMITS,
    )
    res = prod.execute(bot, Side.BUY, quote_size="20")
    assert not res.allowed
    assert any(r["code"] == "TRADING_HALTED" for r in res.decision["reasons"])


def test_non_finite_floats_in_a_signal_snapshot_are_stored_as_null(session_factory, clock, service):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    res = service.execute(bot, Side.BUY, quote_size="20", signal_snapshot={"rsi": float("nan"), "score": 0.5})
    assert res.trade.signal_snapshot == {"rsi": None, "score": 0.5}
