"""Which signals a bot uses, with what weights and periods, and the rules that keep that sane.

A bot's signal configuration is stored as JSON (``bots.signal_config``);
:meth:`SignalConfig.from_dict` is the only way in from the outside and rejects unknown keys,
wrong types and out-of-range values with one :class:`FieldError` per problem, each naming its
field (``signal_config.rsi.period``, ``buy_threshold``), so the API and the dashboard can point
at the offending input.

Sign convention of every score built from this config: +1 = strong buy, -1 = strong sell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any

from coinpilot.domain.indicators import convergence_length

ROOT = "signal_config"
WEIGHT_TOLERANCE = 0.001

# Inclusive (low, high) ranges for periods.
RSI_PERIOD_RANGE = (2, 100)
MA_FAST_RANGE = (2, 400)
MA_SLOW_RANGE = (2, 400)
MACD_FAST_RANGE = (2, 100)
MACD_SLOW_RANGE = (3, 200)
MACD_SIGNAL_RANGE = (2, 100)
MA_TYPES = ("sma", "ema")
# Warm-up: extra candles so seeded exponential averages have forgotten their seed to within this.
WARMUP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class RsiConfig:
    enabled: bool = True
    weight: float = 0.4
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0


@dataclass(frozen=True)
class MaCrossoverConfig:
    enabled: bool = True
    weight: float = 0.3
    fast_period: int = 10
    slow_period: int = 30
    ma_type: str = "sma"  # "sma" | "ema"


@dataclass(frozen=True)
class MacdConfig:
    enabled: bool = True
    weight: float = 0.3
    fast_period: int = 12
    slow_period: int = 26
    signal_period: int = 9


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class SignalConfigError(ValueError):
    """Raised with every problem found, not just the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


_SECTIONS: dict[str, type[RsiConfig] | type[MaCrossoverConfig] | type[MacdConfig]] = {
    "rsi": RsiConfig,
    "ma_crossover": MaCrossoverConfig,
    "macd": MacdConfig,
}


@dataclass(frozen=True)
class SignalConfig:
    rsi: RsiConfig = field(default_factory=RsiConfig)
    ma_crossover: MaCrossoverConfig = field(default_factory=MaCrossoverConfig)
    macd: MacdConfig = field(default_factory=MacdConfig)
    # The share of the enabled signals' weight that must have enough data before the score may
    # ask for an action (default: all of it). Below it the action is HOLD: a signal with data
    # is never renormalised into full conviction while the others are still warming up.
    min_data_weight: float = 1.0

    @classmethod
    def default(cls) -> SignalConfig:
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignalConfig:
        """Parse and validate; missing keys take their defaults, anything odd is an error."""
        errors: list[FieldError] = []
        if not isinstance(data, Mapping):
            raise SignalConfigError([FieldError(ROOT, "must be an object")])
        for key in data:
            if key not in _SECTIONS and key != "min_data_weight":
                errors.append(FieldError(f"{ROOT}.{key}", "unknown key"))
        parsed: dict[str, Any] = {}
        share = data.get("min_data_weight", 1.0)
        if _is_number(share):
            parsed["min_data_weight"] = float(share)
        else:
            errors.append(FieldError(f"{ROOT}.min_data_weight", "must be a number"))
        for name, section_cls in _SECTIONS.items():
            raw = data.get(name, {})
            path = f"{ROOT}.{name}"
            if not isinstance(raw, Mapping):
                errors.append(FieldError(path, "must be an object"))
                continue
            parsed[name] = _parse_section(section_cls, raw, path, errors)
        # Values that failed to parse fell back to defaults; validate the rest so every problem
        # is reported in one go (a weight-sum complaint is moot while a weight is unreadable).
        cfg = cls(**parsed)
        unreadable = {e.field for e in errors}
        sections = {f"{ROOT}.{name}" for name in _SECTIONS}
        sum_moot = any(f.endswith((".weight", ".enabled")) or f in sections for f in unreadable)
        for problem in validate_signal_config(cfg):
            if problem.field in unreadable or (problem.field == f"{ROOT}.weights" and sum_moot):
                continue
            errors.append(problem)
        if errors:
            raise SignalConfigError(errors)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: asdict(getattr(self, name)) for name in _SECTIONS}
        out["min_data_weight"] = self.min_data_weight
        return out

    def enabled_names(self) -> list[str]:
        return [name for name in _SECTIONS if getattr(self, name).enabled]


def _parse_section(
    section_cls: type[RsiConfig] | type[MaCrossoverConfig] | type[MacdConfig],
    raw: Mapping[str, Any],
    path: str,
    errors: list[FieldError],
) -> Any:
    types = {f.name: f.type for f in fields(section_cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        kind = types.get(str(key))
        if kind is None:
            errors.append(FieldError(where, "unknown key"))
        elif kind == "bool":
            if isinstance(value, bool):
                values[key] = value
            else:
                errors.append(FieldError(where, "must be true or false"))
        elif kind == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                values[key] = value
            else:
                errors.append(FieldError(where, "must be a whole number"))
        elif kind == "float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                if math.isfinite(value):
                    values[key] = float(value)
                else:
                    errors.append(FieldError(where, "must be a finite number"))
            else:
                errors.append(FieldError(where, "must be a number"))
        elif kind == "str":
            if isinstance(value, str):
                values[key] = value
            else:
                errors.append(FieldError(where, "must be a string"))
    return section_cls(**values)


def _check_range(errors: list[FieldError], where: str, value: int, bounds: tuple[int, int]) -> bool:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError(where, "must be a whole number"))
        return False
    if not low <= value <= high:
        errors.append(FieldError(where, f"must be between {low} and {high}"))
        return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_signal_config(cfg: SignalConfig) -> list[FieldError]:
    """Every problem with ``cfg``; an empty list means the config is usable."""
    return list(_validate_cached(cfg))


@lru_cache(maxsize=1024)
def _validate_cached(cfg: SignalConfig) -> tuple[FieldError, ...]:
    errors: list[FieldError] = []
    total = 0.0
    enabled = 0
    for name in _SECTIONS:
        section = getattr(cfg, name)
        path = f"{ROOT}.{name}"
        if not isinstance(section.enabled, bool):
            errors.append(FieldError(f"{path}.enabled", "must be true or false"))
        if not _is_number(section.weight):
            errors.append(FieldError(f"{path}.weight", "must be a finite number"))
        elif not 0.0 <= section.weight <= 1.0:
            errors.append(FieldError(f"{path}.weight", "must be between 0 and 1"))
        elif section.enabled is True:
            if section.weight == 0.0:
                errors.append(FieldError(f"{path}.weight", "an enabled signal needs a weight above 0"))
            total += section.weight
        if section.enabled is True:
            enabled += 1

    r = cfg.rsi
    _check_range(errors, f"{ROOT}.rsi.period", r.period, RSI_PERIOD_RANGE)
    levels_ok = True
    for key in ("oversold", "overbought"):
        value = getattr(r, key)
        if not _is_number(value) or not 0.0 < value < 100.0:
            errors.append(FieldError(f"{ROOT}.rsi.{key}", "must be between 0 and 100 (exclusive)"))
            levels_ok = False
    if levels_ok and r.overbought <= r.oversold:
        errors.append(FieldError(f"{ROOT}.rsi.overbought", "must be above oversold"))

    m = cfg.ma_crossover
    fast_ok = _check_range(errors, f"{ROOT}.ma_crossover.fast_period", m.fast_period, MA_FAST_RANGE)
    slow_ok = _check_range(errors, f"{ROOT}.ma_crossover.slow_period", m.slow_period, MA_SLOW_RANGE)
    if fast_ok and slow_ok and m.slow_period <= m.fast_period:
        errors.append(FieldError(f"{ROOT}.ma_crossover.slow_period", "must be above fast_period"))
    if m.ma_type not in MA_TYPES:
        errors.append(FieldError(f"{ROOT}.ma_crossover.ma_type", "must be 'sma' or 'ema'"))

    d = cfg.macd
    fast_ok = _check_range(errors, f"{ROOT}.macd.fast_period", d.fast_period, MACD_FAST_RANGE)
    slow_ok = _check_range(errors, f"{ROOT}.macd.slow_period", d.slow_period, MACD_SLOW_RANGE)
    _check_range(errors, f"{ROOT}.macd.signal_period", d.signal_period, MACD_SIGNAL_RANGE)
    if fast_ok and slow_ok and d.slow_period <= d.fast_period:
        errors.append(FieldError(f"{ROOT}.macd.slow_period", "must be above fast_period"))

    if not _is_number(cfg.min_data_weight) or not 0.0 < cfg.min_data_weight <= 1.0:
        errors.append(FieldError(f"{ROOT}.min_data_weight", "must be above 0 and at most 1"))
    if enabled == 0:
        errors.append(FieldError(ROOT, "at least one signal must be enabled"))
    elif abs(total - 1.0) > WEIGHT_TOLERANCE and not any(e.field.endswith(".weight") for e in errors):
        errors.append(
            FieldError(f"{ROOT}.weights", f"weights of enabled signals must sum to 1 (got {total:g})")
        )
    return tuple(errors)


def validate_thresholds(buy_threshold: float, sell_threshold: float) -> list[FieldError]:
    """Both thresholds must be numbers in (0, 1]: an action needs at least some conviction."""
    errors: list[FieldError] = []
    for name, value in (("buy_threshold", buy_threshold), ("sell_threshold", sell_threshold)):
        if not _is_number(value):
            errors.append(FieldError(name, "must be a finite number"))
        elif not 0.0 < value <= 1.0:
            errors.append(FieldError(name, "must be above 0 and at most 1"))
    return errors


# --------------------------------------------------------------------------- data needs
def rsi_min_candles(c: RsiConfig) -> int:
    """Closes for the first RSI value: ``period`` price changes."""
    return c.period + 1


def ma_min_candles(c: MaCrossoverConfig) -> int:
    """Closes for the slow average plus one, for the ``slow_period`` returns of the volatility."""
    return c.slow_period + 1


def macd_min_candles(c: MacdConfig) -> int:
    """Closes for the first histogram value (and at least ``slow + 1`` for the volatility)."""
    return max(c.slow_period + c.signal_period - 1, c.slow_period + 1)


def required_candles(cfg: SignalConfig) -> int:
    """Candles to fetch so every enabled signal is sufficient and its averages have converged.

    Minimum data per signal plus a warm-up: the number of inputs after which the seed of the
    longest exponential average in it weighs less than ``WARMUP_TOLERANCE`` (Wilder's RSI uses
    ``alpha = 1/period``, EMAs ``2/(period+1)``). A plain SMA needs no warm-up.
    """
    needs = [1]
    if cfg.rsi.enabled:
        needs.append(rsi_min_candles(cfg.rsi) + convergence_length(1.0 / cfg.rsi.period, WARMUP_TOLERANCE))
    m = cfg.ma_crossover
    if m.enabled:
        warm = convergence_length(2.0 / (m.slow_period + 1), WARMUP_TOLERANCE) if m.ma_type == "ema" else 0
        needs.append(ma_min_candles(m) + warm)
    d = cfg.macd
    if d.enabled:
        needs.append(macd_min_candles(d) + convergence_length(2.0 / (d.slow_period + 1), WARMUP_TOLERANCE))
    return max(needs)
