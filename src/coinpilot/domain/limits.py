"""Safety limits and the hard caps in code that no configuration can raise.

The caps are deliberately here, in code, and not in any settings file: raising them is a code
change with review, not a typo in an environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from coinpilot.domain.types import TemperatureLevel


@dataclass(frozen=True)
class SafetyLimits:
    max_trade_usd: Decimal = Decimal("25")
    min_trade_usd: Decimal = Decimal("1")
    daily_loss_limit_usd: Decimal = Decimal("50")
    max_daily_trades: int = 30
    max_daily_trades_per_bot: int = 10
    cooldown_minutes: int = 15  # floor; a bot's own cooldown applies when longer
    max_tranches: int = 3
    max_position_usd_per_bot: Decimal = Decimal("100")
    max_total_exposure_usd: Decimal = Decimal("300")
    max_consecutive_losses: int = 3  # losing exits in a row that lock the bot's entries ...
    loss_streak_lookback_hours: int = 24  # ... when all of them fall within this window ...
    loss_streak_lock_hours: int = 12  # ... for this long after the newest (a resume clears it)
    daily_loss_limit_per_position_usd: Decimal = Decimal("25")
    weekly_loss_limit_per_position_usd: Decimal = Decimal("50")
    min_reserved_balance_usd: Decimal = Decimal("10")
    # Opening or adding to a position needs the bot at least this warm on the buy side
    # (None: no minimum). Exits never wait for temperature.
    min_entry_temperature: TemperatureLevel | None = None


# Upper bounds a configured limit may not exceed. None = no upper cap for that field.
HARD_CAPS: dict[str, Decimal | int] = {
    "max_trade_usd": Decimal("100"),
    "daily_loss_limit_usd": Decimal("500"),
    "max_daily_trades": 100,
    "max_daily_trades_per_bot": 50,
    "max_tranches": 10,
    "max_position_usd_per_bot": Decimal("1000"),
    "max_total_exposure_usd": Decimal("5000"),
    "max_consecutive_losses": 10,
    "daily_loss_limit_per_position_usd": Decimal("500"),
    "weekly_loss_limit_per_position_usd": Decimal("1000"),
}

# Lower bounds: limits that only protect when they are at least this strict.
HARD_FLOORS: dict[str, Decimal | int] = {
    "min_trade_usd": Decimal("1"),
    "cooldown_minutes": 0,
    "min_reserved_balance_usd": Decimal("0"),
    "max_tranches": 1,
    "max_daily_trades": 1,
    "max_daily_trades_per_bot": 1,
    "max_consecutive_losses": 1,
    "loss_streak_lookback_hours": 1,
    "loss_streak_lock_hours": 1,
}


def limit_violations(limits: SafetyLimits) -> list[tuple[str, str]]:
    """Return (field, message) for every limit outside the hard caps/floors or inconsistent."""
    problems: list[tuple[str, str]] = []
    for f in fields(limits):
        value = getattr(limits, f.name)
        cap = HARD_CAPS.get(f.name)
        floor = HARD_FLOORS.get(f.name)
        if cap is not None and value > cap:
            problems.append((f.name, f"{value} exceeds the hard cap of {cap} built into Coinpilot"))
        if floor is not None and value < floor:
            problems.append((f.name, f"{value} is below the minimum of {floor}"))
        if isinstance(value, Decimal) and value < 0:
            problems.append((f.name, "must not be negative"))
    if limits.min_trade_usd > limits.max_trade_usd:
        problems.append(("min_trade_usd", "must not exceed max_trade_usd"))
    if limits.max_trade_usd > limits.max_position_usd_per_bot:
        problems.append(("max_trade_usd", "must not exceed max_position_usd_per_bot"))
    if limits.max_position_usd_per_bot > limits.max_total_exposure_usd:
        problems.append(("max_position_usd_per_bot", "must not exceed max_total_exposure_usd"))
    if limits.max_daily_trades_per_bot > limits.max_daily_trades:
        problems.append(("max_daily_trades_per_bot", "must not exceed max_daily_trades"))
    return problems
