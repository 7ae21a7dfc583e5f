"""A bot's trading configuration as the decision code sees it, and its validation.

Validation lives here, once: the API, the CLI, the config loader and the engine all call
:func:`validate_bot_fields`, so a rule cannot differ between entry points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.signal_config import (
    FieldError,
    SignalConfig,
    SignalConfigError,
    validate_signal_config,
    validate_thresholds,
)
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Granularity

# Used with ``fullmatch`` only: ``$`` would match before a trailing newline ("BTC-USD\n").
PAIR_PATTERN = re.compile(r"[A-Z0-9]{2,10}-[A-Z0-9]{2,10}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.\-]{0,62}[A-Za-z0-9_.\-])?")
MAX_CONFIRMATION_MINUTES = 7 * 24 * 60
MAX_COOLDOWN_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class BotConfig:
    pair: str
    signals: SignalConfig
    buy_threshold: float
    sell_threshold: float
    confirmation_minutes: float
    trade_size_usd: Decimal
    cooldown_minutes: float
    max_tranches: int
    granularity: Granularity = Granularity.ONE_HOUR
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    strategy: StrategyConfig = field(default_factory=StrategyConfig.default)

    @property
    def confirmation(self) -> timedelta:
        return timedelta(minutes=self.confirmation_minutes)


def bot_config_from_fields(fields: Mapping[str, Any]) -> BotConfig:
    """The decision code's view of a bot's field dict (the API/edit shape: the backtest inputs
    and every optimisation trial read bot fields through here; ``store.bots.bot_config`` reads
    the same fields from a row).

    A strategy that sets its own stop is the bot's stop (one stop, not two), as the edit path
    stores it (``engine.bots.admin.normalise``). Left-out signal settings and granularity take
    their defaults."""
    strategy_raw = fields.get("strategy") or {}
    stop = fields.get("stop_loss_pct")
    if isinstance(strategy_raw, dict) and "stop_loss_pct" in strategy_raw:
        stop = strategy_raw["stop_loss_pct"]

    def opt_dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    return BotConfig(
        pair=str(fields["pair"]),
        signals=SignalConfig.from_dict(fields.get("signal_config") or {}),
        buy_threshold=float(fields["buy_threshold"]),
        sell_threshold=float(fields["sell_threshold"]),
        confirmation_minutes=float(fields["confirmation_minutes"]),
        trade_size_usd=Decimal(str(fields["trade_size_usd"])),
        cooldown_minutes=float(fields["cooldown_minutes"]),
        max_tranches=int(fields["max_tranches"]),
        granularity=Granularity(fields.get("granularity", Granularity.ONE_HOUR)),
        stop_loss_pct=opt_dec(stop),
        take_profit_pct=opt_dec(fields.get("take_profit_pct")),
        strategy=StrategyConfig.from_dict(strategy_raw),
    )


def _is_text(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def validate_bot_fields(values: dict[str, Any], limits: SafetyLimits) -> list[FieldError]:
    """Check a (possibly partial) set of bot fields; returns every problem, each naming its field."""
    errors: list[FieldError] = []
    if "name" in values and not _is_text(values["name"], NAME_PATTERN):
        errors.append(
            FieldError("name", "1-64 letters, digits, spaces, '_', '.', '-' (no space at either end)")
        )
    if "pair" in values and not _is_text(values["pair"], PAIR_PATTERN):
        errors.append(FieldError("pair", "must look like BTC-USD (upper-case BASE-QUOTE)"))
    if "signal_config" in values:
        raw = values["signal_config"]
        try:
            cfg = raw if isinstance(raw, SignalConfig) else SignalConfig.from_dict(raw)
        except SignalConfigError as exc:
            errors.extend(exc.errors)
        else:
            errors.extend(validate_signal_config(cfg))
    if "buy_threshold" in values or "sell_threshold" in values:
        errors.extend(
            validate_thresholds(
                float(values.get("buy_threshold", 0.5)), float(values.get("sell_threshold", 0.5))
            )
        )
    if "confirmation_minutes" in values:
        v = float(values["confirmation_minutes"])
        if not 0 <= v <= MAX_CONFIRMATION_MINUTES:
            errors.append(
                FieldError("confirmation_minutes", f"must be between 0 and {MAX_CONFIRMATION_MINUTES}")
            )
    if "cooldown_minutes" in values:
        v = float(values["cooldown_minutes"])
        if not 0 <= v <= MAX_COOLDOWN_MINUTES:
            errors.append(FieldError("cooldown_minutes", f"must be between 0 and {MAX_COOLDOWN_MINUTES}"))
    if "trade_size_usd" in values:
        size = Decimal(str(values["trade_size_usd"]))
        if not size.is_finite() or size <= 0:
            errors.append(FieldError("trade_size_usd", "must be a positive amount"))
        elif size > limits.max_trade_usd:
            errors.append(
                FieldError(
                    "trade_size_usd",
                    f"{size} exceeds the maximum trade size of {limits.max_trade_usd} USD",
                )
            )
        elif size < limits.min_trade_usd:
            errors.append(
                FieldError(
                    "trade_size_usd", f"{size} is below the minimum trade size of {limits.min_trade_usd} USD"
                )
            )
    if "max_tranches" in values:
        n = int(values["max_tranches"])
        if not 1 <= n <= limits.max_tranches:
            errors.append(FieldError("max_tranches", f"must be between 1 and {limits.max_tranches}"))
    for pct_field in ("stop_loss_pct", "take_profit_pct"):
        raw_pct = values.get(pct_field)
        if raw_pct is not None:
            pct = Decimal(str(raw_pct))
            if not pct.is_finite() or not Decimal(0) < pct <= Decimal(100):
                errors.append(FieldError(pct_field, "must be a percentage in (0, 100]"))
    if "strategy" in values and values["strategy"] is not None:
        raw_strategy = values["strategy"]
        try:
            strategy = (
                raw_strategy
                if isinstance(raw_strategy, StrategyConfig)
                else StrategyConfig.from_dict(raw_strategy)
            )
        except (ValueError, TypeError, KeyError) as exc:
            errors.append(FieldError("strategy", str(exc)))
        else:
            errors.extend(FieldError(f"strategy.{f}", m) for f, m in strategy.validate())
    return errors
