"""A bot's strategy settings (pure): what :mod:`coinpilot.domain.strategy` sizes entries and
plans exits with.

``StrategyConfig`` is stored as JSON on the bot and edited through the API, so this module holds
its parsing (``from_dict``, strict: unknown fields and non-numbers are refused), its JSON form
(``to_dict``, round-trips) and ``validate`` (every problem, with the field it belongs to). The
rules that use it stay in ``strategy.py``; the meaning of each setting is described there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from coinpilot.domain.types import TemperatureLevel

__all__ = ["CONVICTION", "GRADUATED_KEYS", "HUNDRED", "SIZING_MODES", "StrategyConfig"]

SIZING_MODES = ("fixed", "graduated", "pyramid")
CONVICTION = "conviction"
GRADUATED_KEYS = frozenset({*(t.value for t in TemperatureLevel), CONVICTION})
HUNDRED = Decimal(100)


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError as exc:
        raise ValueError(f"{name}: {value!r} is not a number") from exc
    if not d.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return d


def _opt_dec(value: Any, name: str) -> Decimal | None:
    return None if value is None else _dec(value, name)


def _default_graduated() -> Mapping[str, Decimal]:
    return MappingProxyType({"warm": Decimal(15), "hot": Decimal(35), CONVICTION: Decimal(50)})


@dataclass(frozen=True)
class StrategyConfig:
    sizing: str = "fixed"
    graduated_sizes: Mapping[str, Decimal] = field(default_factory=_default_graduated)
    pyramid_factor: Decimal = Decimal("0.5")
    dca_step_pct: Decimal = Decimal(2)
    take_profit_ladder: tuple[tuple[Decimal, Decimal], ...] = (
        (Decimal(10), Decimal(30)),
        (Decimal(20), Decimal(50)),
    )
    stop_loss_pct: Decimal | None = Decimal(5)
    trailing_stop_pct: Decimal | None = None
    exit_on_sell_signal: bool = True
    # Optional cooling exit: sell the position when the bot stays below this temperature (for
    # a buy) for ``cooling_exit_minutes`` (see :mod:`coinpilot.domain.cooling`). None: off.
    cooling_exit_below: TemperatureLevel | None = None
    cooling_exit_minutes: Decimal = Decimal(30)

    @staticmethod
    def default() -> StrategyConfig:
        return StrategyConfig()

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> StrategyConfig:
        """Parse stored/API JSON; missing keys take defaults. Raises ValueError/TypeError."""
        if not isinstance(data, Mapping):
            raise TypeError("strategy must be an object")
        unknown = set(data) - set(StrategyConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown strategy fields: {', '.join(sorted(unknown))}")
        d = StrategyConfig()
        sizing = data.get("sizing", d.sizing)
        if not isinstance(sizing, str):
            raise TypeError("sizing must be a string")
        raw_sizes = data.get("graduated_sizes", d.graduated_sizes)
        if not isinstance(raw_sizes, Mapping):
            raise TypeError("graduated_sizes must be an object")
        sizes = {str(k).lower(): _dec(v, f"graduated_sizes.{k}") for k, v in raw_sizes.items()}
        ladder: list[tuple[Decimal, Decimal]] = []
        for i, rung in enumerate(data.get("take_profit_ladder", d.take_profit_ladder)):
            if isinstance(rung, Mapping):
                gain, pct = rung["gain_pct"], rung["sell_pct"]
            else:
                gain, pct = rung
            name = f"take_profit_ladder[{i}]"
            ladder.append((_dec(gain, name), _dec(pct, name)))
        exit_on_sell = data.get("exit_on_sell_signal", d.exit_on_sell_signal)
        if not isinstance(exit_on_sell, bool):
            raise TypeError("exit_on_sell_signal must be true or false")
        raw_cooling = data.get("cooling_exit_below", d.cooling_exit_below)
        try:
            cooling = None if raw_cooling is None else TemperatureLevel(str(raw_cooling).lower())
        except ValueError:
            raise ValueError("cooling_exit_below must be frozen, cool, warm or hot (or empty)") from None
        return StrategyConfig(
            cooling_exit_below=cooling,
            cooling_exit_minutes=_dec(
                data.get("cooling_exit_minutes", d.cooling_exit_minutes), "cooling_exit_minutes"
            ),
            sizing=sizing,
            graduated_sizes=MappingProxyType(sizes),
            pyramid_factor=_dec(data.get("pyramid_factor", d.pyramid_factor), "pyramid_factor"),
            dca_step_pct=_dec(data.get("dca_step_pct", d.dca_step_pct), "dca_step_pct"),
            take_profit_ladder=tuple(ladder),
            stop_loss_pct=_opt_dec(data.get("stop_loss_pct", d.stop_loss_pct), "stop_loss_pct"),
            trailing_stop_pct=_opt_dec(
                data.get("trailing_stop_pct", d.trailing_stop_pct), "trailing_stop_pct"
            ),
            exit_on_sell_signal=exit_on_sell,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (Decimals as strings); ``from_dict(to_dict())`` round-trips."""

        def opt(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "sizing": self.sizing,
            "graduated_sizes": {k: str(v) for k, v in self.graduated_sizes.items()},
            "pyramid_factor": str(self.pyramid_factor),
            "dca_step_pct": str(self.dca_step_pct),
            "take_profit_ladder": [[str(g), str(p)] for g, p in self.take_profit_ladder],
            "stop_loss_pct": opt(self.stop_loss_pct),
            "trailing_stop_pct": opt(self.trailing_stop_pct),
            "exit_on_sell_signal": self.exit_on_sell_signal,
            "cooling_exit_below": self.cooling_exit_below.value if self.cooling_exit_below else None,
            "cooling_exit_minutes": str(self.cooling_exit_minutes),
        }

    def validate(self) -> list[tuple[str, str]]:
        """(field, message) for every problem; empty when the config is usable."""
        errs: list[tuple[str, str]] = []
        if self.sizing not in SIZING_MODES:
            errs.append(("sizing", f"must be one of {', '.join(SIZING_MODES)}"))
        for key, size in self.graduated_sizes.items():
            if key not in GRADUATED_KEYS:
                allowed = ", ".join(sorted(GRADUATED_KEYS))
                errs.append((f"graduated_sizes.{key}", f"unknown level; use {allowed}"))
            if not size > 0:
                errs.append((f"graduated_sizes.{key}", "must be a positive dollar amount"))
        if self.sizing == "graduated" and not self.graduated_sizes:
            errs.append(("graduated_sizes", "graduated sizing needs at least one size"))
        if not Decimal(0) < self.pyramid_factor <= 1:
            errs.append(("pyramid_factor", "must be greater than 0 and at most 1"))
        if not Decimal(0) <= self.dca_step_pct < HUNDRED:
            errs.append(("dca_step_pct", "must be at least 0 and below 100"))
        previous = Decimal(0)
        for i, (gain, pct) in enumerate(self.take_profit_ladder):
            if not gain > previous:
                errs.append((f"take_profit_ladder[{i}]", "gains must be positive and increasing"))
            if not Decimal(0) < pct <= HUNDRED:
                errs.append((f"take_profit_ladder[{i}]", "sell percent must be in (0, 100]"))
            previous = max(previous, gain)
        if sum((p for _, p in self.take_profit_ladder), Decimal(0)) > HUNDRED:
            errs.append(("take_profit_ladder", "the rungs together sell more than 100%"))
        if not Decimal(0) < self.cooling_exit_minutes <= Decimal(7 * 24 * 60):
            errs.append(("cooling_exit_minutes", "must be above 0 and at most a week (10080)"))
        if self.cooling_exit_below is TemperatureLevel.FROZEN:
            errs.append(("cooling_exit_below", "nothing is below frozen; use cool, warm or hot"))
        for name in ("stop_loss_pct", "trailing_stop_pct"):
            v: Decimal | None = getattr(self, name)
            if v is not None and not Decimal(0) < v < HUNDRED:
                errs.append((name, "must be a percentage above 0 and below 100 (or empty)"))
        return errs
