"""The safety audit, the trading state (the row the trading lock takes) and its control events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coinpilot.domain.trading_state import NOT_ENABLED_REASON, TradingState
from coinpilot.domain.types import Side, TradeIntent, TradingMode
from coinpilot.store.coltypes import UTCDateTime, enum_column
from coinpilot.store.models.base import Base, JSONType


class SafetyAudit(Base):
    """Every safety decision, allowed or refused, with the inputs it saw."""

    __tablename__ = "safety_audit"
    __table_args__ = (
        sa.Index("ix_safety_audit_created", "created_at"),
        sa.Index("ix_safety_audit_bot_mode_id", "bot_id", "mode", "id"),  # a bot page's decisions, paged
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[TradingMode] = mapped_column(enum_column(TradingMode, "audit_mode"))
    bot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bots.id", ondelete="SET NULL"), nullable=True)
    side: Mapped[Side | None] = mapped_column(enum_column(Side, "audit_side"), nullable=True)
    intent: Mapped[TradeIntent | None] = mapped_column(
        enum_column(TradeIntent, "audit_intent"), nullable=True
    )
    allowed: Mapped[bool]
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ControlState(Base):
    """Single row (id=1): the trading state (ACTIVE / REDUCING / HALTED, see
    :mod:`coinpilot.domain.trading_state`) with its reason, who set it and when. Also the row the
    trading lock takes."""

    __tablename__ = "control_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    trading_state: Mapped[TradingState] = mapped_column(
        enum_column(TradingState, "trading_state"), default=TradingState.HALTED
    )
    state_reason: Mapped[str] = mapped_column(sa.String(500), default=NOT_ENABLED_REASON)
    state_by: Mapped[str] = mapped_column(sa.String(64), default="install")
    state_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The mode the state was last activated in; any other mode sees HALTED.
    enabled_mode: Mapped[TradingMode | None] = mapped_column(
        enum_column(TradingMode, "enabled_mode"), nullable=True
    )
    lock_version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ControlEvent(Base):
    """Audit trail of human and automatic control actions (enable, disable, kill, release)."""

    __tablename__ = "control_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(64))
    mode: Mapped[TradingMode] = mapped_column(enum_column(TradingMode, "event_mode"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
