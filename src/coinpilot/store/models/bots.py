"""Bots, what the engine last saw of each, and their evaluation history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coinpilot.domain.types import Action, BotStatus, Granularity, TemperatureLevel
from coinpilot.store.coltypes import Money, UTCDateTime, enum_column
from coinpilot.store.models.base import Base, JSONType

_LIVE_BOT = sa.text("archived_at IS NULL")


class Bot(Base):
    __tablename__ = "bots"
    # One live bot per name and per pair; archived bots keep theirs without blocking a new bot.
    __table_args__ = tuple(
        sa.Index(
            f"uq_bots_{column}_live", column, unique=True, sqlite_where=_LIVE_BOT, postgresql_where=_LIVE_BOT
        )
        for column in ("name", "pair")
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    pair: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[BotStatus] = mapped_column(enum_column(BotStatus, "bot_status"), default=BotStatus.STOPPED)
    granularity: Mapped[Granularity] = mapped_column(
        enum_column(Granularity, "granularity"), default=Granularity.ONE_HOUR
    )
    signal_config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    buy_threshold: Mapped[float] = mapped_column(sa.Float)
    sell_threshold: Mapped[float] = mapped_column(sa.Float)
    confirmation_minutes: Mapped[float] = mapped_column(sa.Float, default=5)
    trade_size_usd: Mapped[Decimal] = mapped_column(Money)
    cooldown_minutes: Mapped[float] = mapped_column(sa.Float, default=15)
    max_tranches: Mapped[int] = mapped_column(default=3)
    stop_loss_pct: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    take_profit_pct: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    # Entry sizing, take-profit ladder, trailing stop, DCA step (engine strategy; see domain).
    strategy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Archived (soft-deleted): gone from the overview and the engine; its trades stay in
    # analytics, exports and the audit trail. Only a STOPPED, flat bot with nothing unfinished.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    runtime: Mapped[BotRuntime | None] = relationship(
        back_populates="bot", uselist=False, cascade="all, delete-orphan", lazy="joined"
    )


class BotRuntime(Base):
    """What the engine last saw for a bot: confirmation state and the latest evaluation.

    Kept apart from ``bots`` so polling reads one row per bot and config edits never race with
    evaluation writes.
    """

    __tablename__ = "bot_runtime"

    bot_id: Mapped[int] = mapped_column(sa.ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    confirm_action: Mapped[Action | None] = mapped_column(
        enum_column(Action, "confirm_action"), nullable=True
    )
    confirm_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_score: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    last_action: Mapped[Action | None] = mapped_column(enum_column(Action, "last_action"), nullable=True)
    last_temperature: Mapped[TemperatureLevel | None] = mapped_column(
        enum_column(TemperatureLevel, "temperature"), nullable=True
    )
    last_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    last_breakdown: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    consecutive_errors: Mapped[int] = mapped_column(default=0)
    next_evaluation_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    high_water_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    # A person's resume clears the consecutive-loss lock: earlier losing exits no longer count.
    loss_lock_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A person turned the position's automatic stop-loss / trailing stop / take-profit off.
    protection_off: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())

    bot: Mapped[Bot] = relationship(back_populates="runtime")


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (sa.Index("ix_evaluations_bot_time", "bot_id", "evaluated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(sa.ForeignKey("bots.id", ondelete="CASCADE"))
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    score: Mapped[float] = mapped_column(sa.Float)
    action: Mapped[Action] = mapped_column(enum_column(Action, "eval_action"))
    temperature: Mapped[TemperatureLevel] = mapped_column(enum_column(TemperatureLevel, "eval_temperature"))
    breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    confirmation: Mapped[dict[str, Any]] = mapped_column(JSONType)
