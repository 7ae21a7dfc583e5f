"""Temperature: |score| against the threshold of the side the score leans to."""

from __future__ import annotations

import json

import pytest

from coinpilot.domain.signal_config import SignalConfigError
from coinpilot.domain.signals import decide_action
from coinpilot.domain.temperature import temperature
from coinpilot.domain.types import Action, TemperatureLevel

L = TemperatureLevel


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0.0, L.FROZEN),
        (0.14, L.FROZEN),
        (0.15, L.COOL),  # ratio exactly 0.3 with threshold 0.5
        (0.29, L.COOL),
        (0.3, L.WARM),  # ratio exactly 0.6
        (0.49, L.WARM),
        (0.5, L.HOT),  # exactly at the threshold: would act
        (1.0, L.HOT),
    ],
)
def test_buy_side_levels_at_their_exact_boundaries(score: float, level: TemperatureLevel) -> None:
    assert temperature(score, 0.5, 0.9).level is level


@pytest.mark.parametrize(
    ("score", "level"),
    [(-0.074, L.FROZEN), (-0.075, L.COOL), (-0.15, L.WARM), (-0.2499, L.WARM), (-0.25, L.HOT)],
)
def test_sell_side_uses_the_sell_threshold(score: float, level: TemperatureLevel) -> None:
    assert temperature(score, 0.9, 0.25).level is level


def test_hot_exactly_when_the_action_would_fire() -> None:
    for buy, sell in ((0.3, 0.7), (0.55, 0.35), (1.0, 0.1)):
        for i in range(-100, 101):
            score = i / 100
            hot = temperature(score, buy, sell).level is L.HOT
            assert hot == (decide_action(score, buy, sell) is not Action.HOLD)


def test_leaning_follows_the_sign_of_the_score() -> None:
    assert temperature(0.2, 0.5, 0.5).leaning is Action.BUY
    assert temperature(-0.2, 0.5, 0.5).leaning is Action.SELL
    assert temperature(0.0, 0.5, 0.5).leaning is Action.HOLD


def test_ratio_and_distance_to_action() -> None:
    t = temperature(0.25, 0.5, 0.8)
    assert t.ratio == pytest.approx(0.5)
    assert t.distance_to_action == pytest.approx(0.25)


def test_distance_to_action_is_floored_at_zero() -> None:
    t = temperature(-0.9, 0.5, 0.6)
    assert t.distance_to_action == 0.0
    assert t.ratio == pytest.approx(1.5)


def test_neutral_score_measures_distance_to_the_nearer_threshold() -> None:
    assert temperature(0.0, 0.7, 0.4).distance_to_action == pytest.approx(0.4)


def test_each_level_has_its_own_emoji() -> None:
    emojis = {temperature(s, 0.5, 0.5).emoji for s in (0.0, 0.2, 0.4, 0.6)}
    assert emojis == {"🧊", "❄️", "🌤️", "🔥"}


def test_to_dict_is_json_able() -> None:
    d = json.loads(json.dumps(temperature(0.4, 0.5, 0.5).to_dict()))
    assert d == {
        "level": "warm",
        "emoji": "🌤️",
        "ratio": pytest.approx(0.8),
        "distance_to_action": pytest.approx(0.1),
        "leaning": "buy",
    }


def test_invalid_thresholds_are_rejected() -> None:
    with pytest.raises(SignalConfigError):
        temperature(0.1, 0.0, 0.5)
