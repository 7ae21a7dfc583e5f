"""``evolve`` is ``dataclasses.replace``: the same value, the same errors, the same validation."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.evolve import build, evolve
from coinpilot.domain.state import AccountState, BotState, Cycle, Protections
from coinpilot.domain.types import Action, BotStatus, TradingMode

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_equals_replace_and_leaves_the_original_alone() -> None:
    bot = BotState(bot_id=1, pair="BTC-USD", status=BotStatus.RUNNING, config=None, strategy=None)
    cycle = Cycle(opened_at=NOW, high_water=Decimal("101.5"))
    for obj, changes in (
        (bot, {"cycle": cycle, "mark": Decimal(100)}),
        (cycle, {"high_water": Decimal(102)}),
        (Protections(), {"trades_today": 3, "day": NOW}),
        (AccountState(mode=TradingMode.MOCK), {"realised_today": Decimal("-1.25")}),
    ):
        before = dataclasses.replace(obj)
        new = evolve(obj, **changes)
        assert new == dataclasses.replace(obj, **changes)
        assert type(new) is type(obj) and new is not obj
        assert obj == before  # unchanged
        with pytest.raises(dataclasses.FrozenInstanceError):
            new.__setattr__(next(iter(changes)), None)


def test_unknown_field_raises_like_replace() -> None:
    with pytest.raises(TypeError):
        evolve(Cycle(), high_watermark=Decimal(1))


def test_a_class_with_post_init_still_validates() -> None:
    # ConfirmationState checks its fields in __post_init__: evolve goes through replace.
    with pytest.raises(ValueError, match="never HOLD"):
        evolve(ConfirmationState(), action=Action.HOLD)
    state = evolve(ConfirmationState(Action.BUY, NOW), since=NOW.replace(hour=13))
    assert state == ConfirmationState(Action.BUY, NOW.replace(hour=13))


def test_build_equals_the_constructor_for_a_plain_class() -> None:
    values = {"opened_at": NOW, "high_water": Decimal("101.5"), "rungs_taken": frozenset({1})}
    built = build(Cycle, **values)
    assert built == Cycle(**values) and type(built) is Cycle
    assert vars(built) == vars(Cycle(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.__setattr__("high_water", None)


def test_build_goes_through_the_constructor_otherwise() -> None:
    # Missing fields take their defaults, unknown ones raise, __post_init__ still validates.
    assert build(Cycle, opened_at=NOW) == Cycle(opened_at=NOW)
    with pytest.raises(TypeError):
        build(Cycle, opened_at=NOW, high_water=None, rungs_taken=frozenset(), high_watermark=1)
    with pytest.raises(ValueError, match="never HOLD"):
        build(ConfirmationState, action=Action.HOLD, since=NOW)


def test_build_does_not_share_the_callers_dict() -> None:
    values = {"opened_at": NOW, "high_water": None, "rungs_taken": frozenset()}
    built = build(Cycle, **values)
    values["high_water"] = Decimal(1)
    assert built.high_water is None
