"""How close a bot is to acting: its "temperature", for the dashboard and the API.

Sign convention: +1 = strong buy, -1 = strong sell. The score leans to BUY when above 0, to SELL
when below 0 (HOLD at exactly 0). The threshold of that side is the one that matters:

    threshold = buy_threshold if score > 0 else sell_threshold   (score == 0: the smaller one)
    ratio = |score| / threshold
    distance_to_action = max(0, threshold - |score|)

Levels: HOT when the score reaches its threshold (exactly the comparison :func:`decide_action`
uses, so HOT means "would act"); WARM when ``ratio >= 0.6``; COOL when ``ratio >= 0.3``; FROZEN
below that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coinpilot.domain.signal_config import SignalConfigError, validate_thresholds
from coinpilot.domain.types import Action, TemperatureLevel

WARM_RATIO = 0.6
COOL_RATIO = 0.3
EMOJI: dict[TemperatureLevel, str] = {
    TemperatureLevel.FROZEN: "🧊",
    TemperatureLevel.COOL: "❄️",
    TemperatureLevel.WARM: "🌤️",
    TemperatureLevel.HOT: "🔥",
}


@dataclass(frozen=True)
class Temperature:
    level: TemperatureLevel
    emoji: str
    ratio: float
    distance_to_action: float
    leaning: Action

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            "emoji": self.emoji,
            "ratio": self.ratio,
            "distance_to_action": self.distance_to_action,
            "leaning": self.leaning.value,
        }


def temperature(score: float, buy_threshold: float, sell_threshold: float) -> Temperature:
    """Temperature of ``score`` against the bot's own thresholds (see the module docstring)."""
    problems = validate_thresholds(buy_threshold, sell_threshold)
    if problems:
        raise SignalConfigError(problems)
    if score > 0:
        leaning, threshold, acts = Action.BUY, buy_threshold, score >= buy_threshold
    elif score < 0:
        leaning, threshold, acts = Action.SELL, sell_threshold, score <= -sell_threshold
    else:
        leaning, threshold, acts = Action.HOLD, min(buy_threshold, sell_threshold), False
    magnitude = abs(score)
    ratio = magnitude / threshold
    if acts:
        level = TemperatureLevel.HOT
    elif ratio >= WARM_RATIO:
        level = TemperatureLevel.WARM
    elif ratio >= COOL_RATIO:
        level = TemperatureLevel.COOL
    else:
        level = TemperatureLevel.FROZEN
    return Temperature(
        level=level,
        emoji=EMOJI[level],
        ratio=ratio,
        distance_to_action=max(0.0, threshold - magnitude),
        leaning=leaning,
    )


_LEVEL_ORDER = (TemperatureLevel.FROZEN, TemperatureLevel.COOL, TemperatureLevel.WARM, TemperatureLevel.HOT)


def level_rank(level: TemperatureLevel) -> int:
    """FROZEN 0 < COOL 1 < WARM 2 < HOT 3: "at least warm" is ``rank >= level_rank(WARM)``."""
    return _LEVEL_ORDER.index(TemperatureLevel(level))


def buy_side_temperature(score: float, buy_threshold: float, sell_threshold: float) -> TemperatureLevel:
    """How hot the bot is *for a buy*: its temperature when it leans to buy, else FROZEN.

    A bot hot on the sell side is no reason to open or add to a position, so the minimum entry
    temperature in safety is judged on this, not on the side-blind level.
    """
    t = temperature(score, buy_threshold, sell_threshold)
    return t.level if t.leaning is Action.BUY else TemperatureLevel.FROZEN
