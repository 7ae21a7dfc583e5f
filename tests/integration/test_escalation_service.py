"""Gradual risk escalation on the real order path: canary caps enforced in production, a step up
only with a person's approval after a clean record, a step down on any incident."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.escalation import EscalationRefused
from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.risk.control import ControlService
from coinpilot.engine.risk.escalation import EscalationService
from coinpilot.store.models import ControlEvent, EscalationState, Trade
from coinpilot.store.repos import control as control_repo
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

D = Decimal
PROD = TradingMode.PRODUCTION


@pytest.fixture
def esc(session_factory, clock):
    """Production from its real start: no escalation row yet, so the canary step."""
    with session_factory() as s, s.begin():
        s.execute(sa.delete(EscalationState))
    return EscalationService(session_factory, clock, PROD)


@pytest.fixture
def trades(session_factory, clock):
    return TradeService(session_factory, FakeExchange(clock), clock, PROD, TEST_LIMITS)


def _settled(session_factory, clock, bot_id: int, n: int) -> None:
    now = clock.now()
    with session_factory() as s, s.begin():
        for _ in range(n):
            s.add(
                Trade(
                    bot_id=bot_id,
                    mode=PROD,
                    side=Side.BUY,
                    intent=TradeIntent.MANUAL,
                    pair="BTC-USD",
                    client_order_id=str(uuid.uuid4()),
                    status=TradeStatus.SETTLED,
                    requested_quote_size=D(10),
                    status_history=[],
                    created_at=now,
                    updated_at=now,
                    settled_at=now,
                )
            )


def _failed(session_factory, clock, bot_id: int) -> None:
    now = clock.now()
    with session_factory() as s, s.begin():
        s.add(
            Trade(
                bot_id=bot_id,
                mode=PROD,
                side=Side.BUY,
                intent=TradeIntent.ENTRY,
                pair="BTC-USD",
                client_order_id=str(uuid.uuid4()),
                status=TradeStatus.FAILED,
                failure_code="REJECTED",
                requested_quote_size=D(10),
                status_history=[],
                created_at=now,
                updated_at=now,
                closed_at=now,
            )
        )


def _step(esc) -> int:
    return int(esc.status()["step"]["number"])


def test_production_starts_at_the_canary_caps_in_the_safety_check(session_factory, clock, esc, trades):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock, PROD)
    refused = trades.execute(bot, Side.BUY, quote_size="20")
    assert not refused.allowed
    assert [r["code"] for r in refused.decision["reasons"]] == ["MAX_TRADE_SIZE"]
    assert "$10 per-trade limit" in refused.decision["reasons"][0]["message"]
    assert trades.execute(bot, Side.BUY, quote_size="10").allowed
    assert _step(esc) == 1


def test_the_step_rises_only_with_approval_after_a_clean_record(session_factory, clock, esc, trades):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock, PROD)
    esc.check_incidents()  # the engine's first check: the record starts now
    clock.advance(1)
    _settled(session_factory, clock, bot, 4)
    with pytest.raises(EscalationRefused, match="1 more settled trade"):
        esc.approve("alice")
    _settled(session_factory, clock, bot, 1)
    status = esc.status()
    assert status["can_approve"] is True and _step(esc) == 1  # a clean record alone moves nothing
    clock.advance(1)
    after = esc.approve("alice")
    assert after["step"]["number"] == 2 and after["record"]["settled_trades"] == 0  # a new record
    assert trades.execute(bot, Side.BUY, quote_size="20").allowed  # step 2 allows $25
    with session_factory() as s:
        event = s.scalars(sa.select(ControlEvent).where(ControlEvent.action == "escalation_approved")).one()
        assert event.actor == "alice"
        assert event.detail["before"] == {"step": 1} and event.detail["after"] == {"step": 2}


@pytest.mark.parametrize("incident", ["failed_order", "drift", "breaker"])
def test_any_incident_drops_back_a_step(session_factory, clock, esc, trades, incident):
    bot = make_bot(session_factory, clock)
    esc.check_incidents()  # the engine's first check: the record starts now
    clock.advance(1)
    _settled(session_factory, clock, bot, 5)
    esc.approve("alice")
    clock.advance(1)
    assert esc.check_incidents() is None
    if incident == "failed_order":
        _failed(session_factory, clock, bot)
    elif incident == "drift":
        with session_factory() as s, s.begin():
            control_repo.record_event(
                s, at=clock.now(), action="position_drift", actor="drift_monitor", mode=PROD
            )
    else:
        control = ControlService(session_factory, clock, PROD)
        control.activate("alice", production_ready=True)
        assert control.breaker_trip("exchange_breaker", "5 exchange failures within 60 s")
    assert esc.status()["incident_pending"] is True and _step(esc) == 2  # reading changes nothing
    assert esc.check_incidents() == 1
    assert _step(esc) == 1 and esc.status()["incident_pending"] is False
    with session_factory() as s:
        dropped = s.scalars(sa.select(ControlEvent).where(ControlEvent.action == "escalation_dropped")).one()
        assert dropped.actor == "system" and dropped.detail["after"] == {"step": 1}
    clock.advance(1)
    assert esc.check_incidents() is None  # the old incident is before the new step's record


def test_mock_mode_is_not_escalated(session_factory, clock):
    service = TradeService(session_factory, FakeExchange(clock), clock, TradingMode.MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    assert service.execute(bot, Side.BUY, quote_size="20").allowed
    mock = EscalationService(session_factory, clock, TradingMode.MOCK)
    assert mock.status()["escalated"] is False
    with pytest.raises(EscalationRefused, match="mock mode is not escalated"):
        mock.approve("alice")
