"""Request/response models for bots. Shape checks here; business rules in domain.bot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from coinpilot.domain.types import Granularity

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


def _default_signals() -> dict[str, Any]:
    from coinpilot.domain.signal_config import SignalConfig

    return SignalConfig.default().to_dict()


class BotCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    pair: str = Field(min_length=3, max_length=21, examples=["BTC-USD"])
    granularity: Granularity = Granularity.ONE_HOUR
    signal_config: dict[str, Any] = Field(default_factory=_default_signals)
    buy_threshold: float = Field(default=0.5, description="act when score >= this (0, 1]")
    sell_threshold: float = Field(default=0.5, description="act when score <= -this (0, 1]")
    confirmation_minutes: float = 5
    trade_size_usd: Decimal = Field(default=Decimal("10"), max_digits=20)
    cooldown_minutes: float = 15
    max_tranches: int = 3
    stop_loss_pct: Decimal | None = Field(default=Decimal("5"), max_digits=12)
    take_profit_pct: Decimal | None = Field(default=None, max_digits=12)
    strategy: dict[str, Any] | None = None


class BotUpdate(BaseModel):
    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=500)
    granularity: Granularity | None = None
    signal_config: dict[str, Any] | None = None
    buy_threshold: float | None = None
    sell_threshold: float | None = None
    confirmation_minutes: float | None = None
    trade_size_usd: Decimal | None = Field(default=None, max_digits=20)
    cooldown_minutes: float | None = None
    max_tranches: int | None = None
    stop_loss_pct: Decimal | None = Field(default=None, max_digits=12)
    take_profit_pct: Decimal | None = Field(default=None, max_digits=12)
    strategy: dict[str, Any] | None = None


class StopAllResult(BaseModel):
    stopped: list[int]
