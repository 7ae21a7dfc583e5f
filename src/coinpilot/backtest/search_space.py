"""What ``coinpilot optimize`` may change in a bot, within the ranges a manual edit would accept.

A search must never suggest a configuration the bot validation or the safety caps would refuse:
a person applying it would only get an error, and a backtest of it would describe a bot that
cannot exist. So every range here is clipped to :func:`coinpilot.domain.bot.validate_bot_fields`'s
bounds and to the :class:`SafetyLimits` in force (trade size between the minimum and maximum trade,
tranches up to the cap, cooldown at least the safety floor), and pairs of fields that must be
ordered (fast below slow periods, weights summing to 1, ladder rungs increasing and selling at most
100 %) are parameterised so that every point of the space is valid.

Parameters are grouped so a person can search only what they mean to tune (``--space
thresholds,weights``). A point of the space (``params``, a flat dict) becomes a *patch*: the same
field dict an edit sends (:func:`params_to_patch`), so applying a suggestion goes through the edit
path unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from coinpilot.domain.bot import MAX_CONFIRMATION_MINUTES, MAX_COOLDOWN_MINUTES

# Moved to the domain (one helper for the API and the optimiser); still importable from here for
# code written against its old home.
from coinpilot.domain.bot import bot_config_from_fields as bot_config_from_fields
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.types import Granularity

GROUPS = ("thresholds", "weights", "periods", "timing", "sizing", "tranches", "ladder", "stops")
DEFAULT_GROUPS = GROUPS
# Searched only for a bot that has a cooling exit: its period. Its level stays the bot's choice (a
# search does not turn an exit on, as it does not turn a signal on), and for a bot without one
# the period would be a parameter that changes nothing.
OPTIONAL_GROUPS = ("cooling",)
# cooling_exit_minutes: above 0 and at most a week (StrategyConfig.validate).
MAX_COOLING_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class Param:
    """One searched value: ``int`` or ``float`` between ``low`` and ``high`` (inclusive) by ``step``."""

    name: str
    group: str
    kind: str  # "int" | "float"
    low: float
    high: float
    step: float

    def grid(self, points: int) -> list[float | int]:
        """``points`` values spread evenly over the range, on the step (fewer when the range is short)."""
        if points <= 1 or self.high <= self.low:
            return [self._cast(self.low)]
        out: list[float | int] = []
        for k in range(points):
            raw = self.low + (self.high - self.low) * k / (points - 1)
            snapped = self.low + round((raw - self.low) / self.step) * self.step
            value = self._cast(min(self.high, snapped))
            if value not in out:
                out.append(value)
        return out

    def _cast(self, value: float) -> float | int:
        return round(value) if self.kind == "int" else round(value, 6)


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def grid(self, points: int) -> dict[str, list[float | int]]:
        return {p.name: p.grid(points) for p in self.params}

    def grid_size(self, points: int) -> int:
        return math.prod(len(v) for v in self.grid(points).values())

    def suggest(self, trial: Any) -> dict[str, float | int]:
        """Ask an Optuna trial for one point (the trial records it; the sampler chooses it)."""
        out: dict[str, float | int] = {}
        for p in self.params:
            if p.kind == "int":
                out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step))
            else:
                out[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step)
        return self.clean(out)

    def clean(self, params: dict[str, Any]) -> dict[str, float | int]:
        """``params`` without binary noise (0.65, not 0.6500000000000001), by each parameter's kind."""
        kinds = {p.name: p for p in self.params}
        return {k: (kinds[k]._cast(float(v)) if k in kinds else v) for k, v in params.items()}


SIGNALS = ("rsi", "ma_crossover", "macd")
# Searched signal periods (whole candles). Disjoint fast/slow ranges: fast < slow at every point,
# as the validation requires.
PERIOD_RANGES: dict[str, tuple[int, int]] = {
    "rsi.period": (5, 30),
    "ma_crossover.fast_period": (3, 20),
    "ma_crossover.slow_period": (21, 100),
    "macd.fast_period": (4, 15),
    "macd.slow_period": (16, 40),
    "macd.signal_period": (3, 15),
}


def _one_range(group: str, kind: str, bounds: tuple[float, float, float], *names: str) -> list[Param]:
    """Fields searched over the same (low, high, step): the two thresholds, the three weights,
    the two ladder sells."""
    low, high, step = bounds
    return [Param(name, group, kind, low, high, step) for name in names]


def build_space(
    limits: SafetyLimits, granularity: Granularity, groups: tuple[str, ...] | list[str] = DEFAULT_GROUPS
) -> SearchSpace:
    """The search space for ``groups``, clipped to the validation bounds and ``limits``.

    Times (confirmation, cooldown) are searched in whole candles of ``granularity``, the only
    resolution at which a backtest can tell them apart.
    """
    known = GROUPS + OPTIONAL_GROUPS
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise ValueError(f"unknown parameter group(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if not groups:
        raise ValueError("give at least one parameter group to search")
    bar = granularity.seconds / 60
    size_low = float(limits.min_trade_usd)
    size_high = float(limits.max_trade_usd)
    cooldown_floor = float(limits.cooldown_minutes)
    params = [
        *_one_range("thresholds", "float", (0.05, 0.9, 0.05), "buy_threshold", "sell_threshold"),
        # Raw shares, normalised to sum to 1 (every point valid; the stored weights are the shares).
        *_one_range("weights", "float", (0.05, 1.0, 0.05), *(f"{s}.weight" for s in SIGNALS)),
        *(Param(name, "periods", "int", low, high, 1) for name, (low, high) in PERIOD_RANGES.items()),
        Param("confirmation_candles", "timing", "int", 0, min(6, int(MAX_CONFIRMATION_MINUTES // bar)), 1),
        Param(
            "cooldown_candles",
            "timing",
            "int",
            math.ceil(cooldown_floor / bar),
            max(math.ceil(cooldown_floor / bar), min(24, int(MAX_COOLDOWN_MINUTES // bar))),
            1,
        ),
        Param("trade_size_usd", "sizing", "float", size_low, max(size_low, size_high), 1.0),
        Param("max_tranches", "tranches", "int", 1, limits.max_tranches, 1),
        Param("strategy.dca_step_pct", "tranches", "float", 0.5, 10.0, 0.5),
        Param("strategy.pyramid_factor", "tranches", "float", 0.3, 1.0, 0.1),
        # Two rungs: gains increasing, sells together at most 100 %.
        Param("ladder.gain_1", "ladder", "float", 1.0, 20.0, 0.5),
        Param("ladder.gain_step", "ladder", "float", 1.0, 30.0, 0.5),
        *_one_range("ladder", "float", (10.0, 50.0, 5.0), "ladder.sell_1", "ladder.sell_2"),
        Param("strategy.stop_loss_pct", "stops", "float", 1.0, 20.0, 0.5),
        # The cooling exit's period in whole candles (the bot is evaluated once a candle).
        Param("cooling_candles", "cooling", "int", 1, max(1, min(24, int(MAX_COOLING_MINUTES // bar))), 1),
    ]
    return SearchSpace(tuple(p for p in params if p.group in groups))


def has_cooling_exit(base: Mapping[str, Any]) -> bool:
    """Whether the bot with fields ``base`` sells on cooling (its strategy names a level)."""
    return bool((base.get("strategy") or {}).get("cooling_exit_below"))


def groups_for(base: Mapping[str, Any]) -> tuple[str, ...]:
    """Every group that can change something for the bot with fields ``base`` ("all")."""
    return GROUPS + (OPTIONAL_GROUPS if has_cooling_exit(base) else ())


def _dec(value: float | int) -> str:
    """A searched float as the decimal text a person would type (no binary noise)."""
    return format(Decimal(repr(float(value))).normalize(), "f")  # 60, not 6E+1


def params_to_patch(
    base: Mapping[str, Any], params: Mapping[str, float | int], granularity: Granularity
) -> dict[str, Any]:
    """The edit patch (bot fields) that sets ``params`` on a bot whose fields are ``base``.

    Only the fields a parameter touches are in the patch; ``signal_config`` and ``strategy`` are
    whole objects (the stored ones with the searched values changed), as an edit sends them.
    """
    bar = granularity.seconds / 60
    patch: dict[str, Any] = {}
    for name in ("buy_threshold", "sell_threshold"):
        if name in params:
            patch[name] = float(params[name])
    if "confirmation_candles" in params:
        patch["confirmation_minutes"] = float(params["confirmation_candles"]) * bar
    if "cooldown_candles" in params:
        patch["cooldown_minutes"] = float(params["cooldown_candles"]) * bar
    if "trade_size_usd" in params:
        patch["trade_size_usd"] = Decimal(_dec(params["trade_size_usd"]))
    if "max_tranches" in params:
        patch["max_tranches"] = int(params["max_tranches"])

    signal_keys = [k for k in params if k.split(".")[0] in SIGNALS]
    if signal_keys:
        signals = SignalConfig.from_dict(base.get("signal_config") or {}).to_dict()
        # Only the signals the bot uses are weighted: a search does not turn a signal on.
        weights = {
            s: params[f"{s}.weight"] for s in SIGNALS if f"{s}.weight" in params and signals[s]["enabled"]
        }
        if weights:
            total = sum(float(w) for w in weights.values())
            names = list(weights)
            shares = [round(float(weights[n]) / total, 3) for n in names]
            shares[-1] = round(1.0 - sum(shares[:-1]), 3)  # exact sum of 1 at three decimals
            for n, share in zip(names, shares, strict=True):
                signals[n]["weight"] = share
        for key in signal_keys:
            section, field = key.split(".", 1)
            if field != "weight":
                signals[section][field] = int(params[key])
        patch["signal_config"] = signals

    strategy_keys = [k for k in params if k.startswith(("strategy.", "ladder.")) or k == "cooling_candles"]
    if strategy_keys:
        strategy = dict(base.get("strategy") or {})
        for key in strategy_keys:
            if key.startswith("strategy."):
                strategy[key.split(".", 1)[1]] = _dec(params[key])
        if "ladder.gain_1" in params:
            gain_1 = float(params["ladder.gain_1"])
            gain_2 = gain_1 + float(params.get("ladder.gain_step", gain_1))
            strategy["take_profit_ladder"] = [
                [_dec(gain_1), _dec(params.get("ladder.sell_1", 30))],
                [_dec(gain_2), _dec(params.get("ladder.sell_2", 50))],
            ]
        if "cooling_candles" in params:
            strategy["cooling_exit_minutes"] = _dec(float(params["cooling_candles"]) * bar)
        patch["strategy"] = strategy
    return patch
