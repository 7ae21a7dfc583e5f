"""Running the service: worker leases, the risk-escalation step, API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coinpilot.domain.types import TradingMode
from coinpilot.store.coltypes import UTCDateTime, enum_column
from coinpilot.store.models.base import Base


class WorkerLease(Base):
    """Which worker evaluates a bot until when (multi-worker on PostgreSQL)."""

    __tablename__ = "worker_leases"

    bot_id: Mapped[int] = mapped_column(sa.ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationState(Base):
    """Gradual risk escalation: the step a mode trades at and since when (its record starts then).

    One row per mode; only production is escalated (see :mod:`coinpilot.domain.escalation`).
    """

    __tablename__ = "escalation_state"

    mode: Mapped[TradingMode] = mapped_column(enum_column(TradingMode, "escalation_mode"), primary_key=True)
    step: Mapped[int] = mapped_column(default=1)
    step_since: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A named, revocable API token. Only a hash of the secret is stored; the name is the "who"
    of the audit trail."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
