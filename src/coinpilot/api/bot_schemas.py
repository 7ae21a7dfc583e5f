"""Request/response models for bots. Shape checks here; business rules in domain.bot."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from coinpilot.api.strict_types import FiniteJsonObject, PlainDecimal, StrictInt, StrictNumber
from coinpilot.domain.types import Granularity

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
# The default of a PATCH field that was not sent (never stored: PATCH dumps only what was sent).
_NOT_SENT: Any = None


def _default_signals() -> dict[str, Any]:
    from coinpilot.domain.signal_config import SignalConfig

    return SignalConfig.default().to_dict()


class BotCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    pair: str = Field(min_length=3, max_length=21, examples=["BTC-USD"])
    granularity: Granularity = Granularity.ONE_HOUR
    signal_config: FiniteJsonObject = Field(default_factory=_default_signals)
    buy_threshold: StrictNumber = Field(default=0.5, description="act when score >= this (0, 1]")
    sell_threshold: StrictNumber = Field(default=0.5, description="act when score <= -this (0, 1]")
    confirmation_minutes: StrictNumber = 5
    trade_size_usd: PlainDecimal = Field(default=Decimal("10"), max_digits=20)
    cooldown_minutes: StrictNumber = 15
    max_tranches: StrictInt = 3
    stop_loss_pct: PlainDecimal | None = Field(default=Decimal("5"), max_digits=12)
    take_profit_pct: PlainDecimal | None = Field(default=None, max_digits=12)
    strategy: FiniteJsonObject | None = None


class BotUpdate(BaseModel):
    """Only the fields sent are changed. ``null`` is refused except where a field is optional
    (``stop_loss_pct`` and ``take_profit_pct``: null clears them); the ``_NOT_SENT`` default only
    marks a field as not required."""

    model_config = _STRICT

    name: str = Field(default=_NOT_SENT, min_length=1, max_length=64)
    description: str = Field(default=_NOT_SENT, max_length=500)
    granularity: Granularity = Field(default=_NOT_SENT)
    signal_config: FiniteJsonObject = Field(default=_NOT_SENT)
    buy_threshold: StrictNumber = Field(default=_NOT_SENT)
    sell_threshold: StrictNumber = Field(default=_NOT_SENT)
    confirmation_minutes: StrictNumber = Field(default=_NOT_SENT)
    trade_size_usd: PlainDecimal = Field(default=_NOT_SENT, max_digits=20)
    cooldown_minutes: StrictNumber = Field(default=_NOT_SENT)
    max_tranches: StrictInt = Field(default=_NOT_SENT)
    stop_loss_pct: PlainDecimal | None = Field(default=None, max_digits=12)
    take_profit_pct: PlainDecimal | None = Field(default=None, max_digits=12)
    strategy: FiniteJsonObject = Field(default=_NOT_SENT)


class StopAllResult(BaseModel):
    stopped: list[int]
