"""Stored backtest and optimisation runs (simulated figures, never mixed with trading ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coinpilot.domain.types import BacktestStatus, Granularity
from coinpilot.store.coltypes import UTCDateTime, enum_column
from coinpilot.store.models.base import Base, JSONType


class BacktestRun(Base):
    """One backtest requested over the API (issue 12): its inputs, its state while it runs and,
    once done, the whole JSON report and the chart data of its HTML page.

    ``mode`` is always ``backtest`` (a CHECK constraint): its figures are simulated and are shown
    beside mock and production analytics, never summed with them.
    """

    __tablename__ = "backtest_runs"
    __table_args__ = (sa.CheckConstraint("mode = 'backtest'", name="backtest_mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(16), default="backtest")
    status: Mapped[BacktestStatus] = mapped_column(
        enum_column(BacktestStatus, "backtest_status"), default=BacktestStatus.QUEUED
    )
    label: Mapped[str] = mapped_column(sa.String(64), default="")
    bot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bots.id", ondelete="SET NULL"), nullable=True)
    pair: Mapped[str] = mapped_column(sa.String(32))
    granularity: Mapped[Granularity] = mapped_column(enum_column(Granularity, "granularity"))
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the inputs as validated
    progress: Mapped[float] = mapped_column(sa.Float, default=0.0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True, deferred=True)
    chart: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True, deferred=True)
    error: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    requested_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OptimisationRun(Base):
    """A stored ``coinpilot optimize`` result (a backtest record: never mixed with trading figures).

    The whole report is kept as JSON so it can be shown again and compared; the columns hold what
    the list sorts and filters by.
    """

    __tablename__ = "optimisation_runs"
    __table_args__ = (sa.CheckConstraint("mode = 'backtest'", name="optimisation_mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(16), default="backtest")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pair: Mapped[str] = mapped_column(sa.String(32))
    granularity: Mapped[str] = mapped_column(sa.String(16))
    objective: Mapped[str] = mapped_column(sa.String(16))
    sampler: Mapped[str] = mapped_column(sa.String(16))
    seed: Mapped[int] = mapped_column()
    trials: Mapped[int] = mapped_column()
    folds: Mapped[int] = mapped_column()
    base_bot: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    oos_return_pct: Mapped[float] = mapped_column(sa.Float)
    elapsed_seconds: Mapped[float] = mapped_column(sa.Float)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
