"""Gradual risk escalation (pure): caps, approval only after a clean record, drop on an incident."""

from dataclasses import replace
from decimal import Decimal

import pytest

from coinpilot.domain import escalation as esc
from coinpilot.domain.escalation import EscalationRefused, StepRecord
from coinpilot.domain.limits import SafetyLimits, limit_violations
from coinpilot.domain.safety import validate
from tests.unit.test_safety import buy, codes, ctx

CLEAN_CANARY = StepRecord(settled_trades=5)


def test_production_starts_at_canary_caps_below_the_configured_limits() -> None:
    lim = esc.effective_limits(SafetyLimits(), esc.step_of(1))
    assert lim.max_trade_usd == Decimal(10)
    assert lim.max_daily_trades == 3 and lim.max_daily_trades_per_bot == 3
    assert limit_violations(lim) == []


def test_the_effective_limits_are_never_looser_than_the_configured_ones() -> None:
    strict = SafetyLimits(max_trade_usd=Decimal(5), max_daily_trades=2, max_daily_trades_per_bot=2)
    for step in esc.LADDER:
        lim = esc.effective_limits(strict, step)
        assert lim.max_trade_usd <= Decimal(5) and lim.max_daily_trades <= 2
    assert esc.effective_limits(SafetyLimits(), esc.LADDER[-1]) == SafetyLimits()


def test_the_safety_check_refuses_a_trade_over_the_canary_cap() -> None:
    lim = esc.effective_limits(SafetyLimits(), esc.step_of(1))
    flat = ctx(position_cost=Decimal(0), total_exposure=Decimal(0), position_tranches=0)
    assert codes(validate(buy(quote_size=Decimal(20)), flat, lim)) == {"MAX_TRADE_SIZE"}
    assert validate(buy(quote_size=Decimal(10)), flat, lim).allowed
    assert validate(buy(quote_size=Decimal(10)), flat, SafetyLimits()).allowed
    assert codes(validate(buy(quote_size=Decimal(10)), replace(flat, trades_today_total=3), lim)) == {
        "DAILY_TRADES"
    }


def test_approval_moves_up_one_step_only_after_a_clean_record() -> None:
    assert esc.approve(1, CLEAN_CANARY) == 2
    with pytest.raises(EscalationRefused) as refused:
        esc.approve(1, StepRecord(settled_trades=4))
    assert "1 more settled trade" in str(refused.value)


@pytest.mark.parametrize(
    "record",
    [
        StepRecord(settled_trades=9, failed_orders=1),
        StepRecord(settled_trades=9, drift_incidents=1),
        StepRecord(settled_trades=9, breaker_trips=1),
    ],
)
def test_any_incident_blocks_approval_and_drops_back_a_step(record: StepRecord) -> None:
    with pytest.raises(EscalationRefused):
        esc.approve(2, record)
    assert esc.after_incident(2, record) == 1
    assert esc.after_incident(1, record) == 1  # never below the canary
    assert esc.after_incident(2, StepRecord(settled_trades=9)) == 2


def test_the_status_says_what_the_next_step_requires() -> None:
    s = esc.status(1, StepRecord(settled_trades=2))
    assert not s.can_approve and s.next_step is not None and s.next_step.number == 2
    assert s.missing == ("3 more settled trade(s) at this step (have 2 of 5)",)
    top = esc.status(len(esc.LADDER), StepRecord(settled_trades=100))
    assert top.next_step is None and not top.can_approve
    assert top.to_dict()["step"]["name"] == "configured"
