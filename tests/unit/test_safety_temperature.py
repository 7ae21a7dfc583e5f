"""Temperature in safety: a minimum temperature to open or add to a position (plan 4.1.1/4.3.2)."""

from dataclasses import replace

import pytest

from coinpilot.domain.limits import SafetyLimits, limit_violations
from coinpilot.domain.safety import validate
from coinpilot.domain.temperature import buy_side_temperature
from coinpilot.domain.types import TemperatureLevel as T
from coinpilot.domain.types import TradeIntent
from tests.unit.test_safety import buy, codes, ctx, sell

WARM_MIN = replace(SafetyLimits(), min_entry_temperature=T.WARM)


def test_the_minimum_refuses_a_cool_entry() -> None:
    decision = validate(buy(), ctx(entry_temperature=T.COOL), WARM_MIN)
    assert not decision.allowed
    assert codes(decision) == {"TOO_COOL"}
    assert "warm" in decision.reasons[0].message
    assert "temperature" in decision.checks


@pytest.mark.parametrize("level", [T.WARM, T.HOT])
def test_the_minimum_allows_an_entry_at_or_above_it(level: T) -> None:
    assert validate(buy(), ctx(entry_temperature=level), WARM_MIN).allowed


def test_the_minimum_applies_to_manual_buys_too() -> None:
    decision = validate(buy(intent=TradeIntent.MANUAL), ctx(entry_temperature=T.FROZEN), WARM_MIN)
    assert codes(decision) == {"TOO_COOL"}


def test_an_unknown_temperature_fails_closed_when_a_minimum_is_set() -> None:
    assert codes(validate(buy(), ctx(entry_temperature=None), WARM_MIN)) == {"TEMPERATURE_UNKNOWN"}


def test_exits_are_never_held_back_by_temperature() -> None:
    assert validate(sell(), ctx(entry_temperature=T.FROZEN), WARM_MIN).allowed


def test_without_a_minimum_the_rule_does_not_apply() -> None:
    decision = validate(buy(), ctx(entry_temperature=T.FROZEN), SafetyLimits())
    assert decision.allowed
    assert "temperature" not in decision.checks


def test_a_bot_hot_on_the_sell_side_is_frozen_for_a_buy() -> None:
    assert buy_side_temperature(-0.9, 0.5, 0.5) is T.FROZEN
    assert buy_side_temperature(0.6, 0.5, 0.5) is T.HOT
    assert buy_side_temperature(0.35, 0.5, 0.5) is T.WARM
    assert buy_side_temperature(0.0, 0.5, 0.5) is T.FROZEN


def test_the_minimum_is_a_valid_limit() -> None:
    assert limit_violations(WARM_MIN) == []
