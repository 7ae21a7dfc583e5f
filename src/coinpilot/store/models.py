"""SQLAlchemy 2 models: one module so the migration and the models are compared in one place.

Money columns use :class:`Money` (exact), times use :class:`UTCDateTime` (aware UTC), and every
status/side is an enum constrained in the database.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from coinpilot.domain.trading_state import NOT_ENABLED_REASON, TradingState
from coinpilot.domain.types import (
    Action,
    BacktestStatus,
    BotStatus,
    Granularity,
    PositionStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradeStatus,
    TradingMode,
)
from coinpilot.store.coltypes import Money, UTCDateTime, enum_column

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class Bot(Base):
    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    pair: Mapped[str] = mapped_column(sa.String(32), unique=True)
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


class Trade(Base):
    __tablename__ = "trades"
    __table_args__ = (
        # The order path reads only through these indexes, so its cost does not grow with history.
        sa.Index("ix_trades_mode_status", "mode", "status"),  # in-flight trades, order sync
        sa.Index("ix_trades_bot_created", "bot_id", "created_at"),
        sa.Index("ix_trades_mode_created", "mode", "created_at"),  # daily counts (all bots)
        sa.Index("ix_trades_mode_realized", "mode", "realized_at"),  # today's realised P&L
        sa.Index("ix_trades_bot_realized", "bot_id", "mode", "realized_at"),  # weekly P&L, loss streak
        sa.Index("ix_trades_bot_last_fill", "bot_id", "mode", "last_fill_at"),  # cooldown
        sa.Index("ix_trades_mode_id", "mode", "id"),  # the overview's newest trades
        sa.Index("ix_trades_bot_mode_id", "bot_id", "mode", "id"),  # a bot page's trades, paged by id
        sa.CheckConstraint(
            "(requested_quote_size IS NULL) <> (requested_base_size IS NULL)", name="one_size"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(sa.ForeignKey("bots.id", ondelete="RESTRICT"))
    mode: Mapped[TradingMode] = mapped_column(enum_column(TradingMode, "trade_mode"))
    side: Mapped[Side] = mapped_column(enum_column(Side, "trade_side"))
    intent: Mapped[TradeIntent] = mapped_column(enum_column(TradeIntent, "trade_intent"))
    pair: Mapped[str] = mapped_column(sa.String(32))
    client_order_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    order_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, unique=True)
    status: Mapped[TradeStatus] = mapped_column(enum_column(TradeStatus, "trade_status"))
    requested_quote_size: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    requested_base_size: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    filled_base_size: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    average_fill_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    filled_value: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    realized_pnl: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    # When realized_pnl was booked (settled_at, or closed_at for a partly filled cancel).
    realized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The newest of the trade's fill times (cooldowns count from it).
    last_fill_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    signal_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    confirmation_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    temperature: Mapped[TemperatureLevel | None] = mapped_column(
        enum_column(TemperatureLevel, "trade_temperature"), nullable=True
    )
    safety_audit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("safety_audit.id"), nullable=True)
    position_applied: Mapped[bool] = mapped_column(default=False)
    sync_attempts: Mapped[int] = mapped_column(default=0)
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    # Set when the trading state was HALTED while the order was unsent: look it up, never send it.
    do_not_send: Mapped[bool] = mapped_column(server_default=sa.false())
    # A trade the sync could not finish within its bounds: shown to a person with the reason; it
    # no longer blocks its bot's protective exits (which sell only the settled position).
    attention_reason: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    attention_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    fills: Mapped[list[Fill]] = relationship(
        back_populates="trade", cascade="all, delete-orphan", order_by="Fill.time"
    )


class Fill(Base):
    __tablename__ = "fills"
    __table_args__ = (sa.UniqueConstraint("trade_id", "fill_id", name="uq_fills_trade_fill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_id: Mapped[int] = mapped_column(sa.ForeignKey("trades.id", ondelete="CASCADE"))
    fill_id: Mapped[str] = mapped_column(sa.String(64))
    price: Mapped[Decimal] = mapped_column(Money)
    base_size: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    liquidity: Mapped[str] = mapped_column(sa.String(16), default="UNKNOWN")
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    # Quote value before fees as the exchange accounted it; None (rows before 0005): size x price.
    value: Mapped[Decimal | None] = mapped_column(Money, nullable=True)

    trade: Mapped[Trade] = relationship(back_populates="fills")


class Position(Base):
    """One position per bot and mode; mock and production never share a row."""

    __tablename__ = "positions"
    __table_args__ = (sa.UniqueConstraint("bot_id", "mode", name="uq_positions_bot_mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bot_id: Mapped[int] = mapped_column(sa.ForeignKey("bots.id", ondelete="RESTRICT"))
    mode: Mapped[TradingMode] = mapped_column(enum_column(TradingMode, "position_mode"))
    pair: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[PositionStatus] = mapped_column(
        enum_column(PositionStatus, "position_status"), default=PositionStatus.FLAT
    )
    base_size: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))  # incl. entry fees
    realized_pnl: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    total_fees: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    # Remainders below the product's increment/minimum, set aside when cycles closed (unsellable).
    dust_base_size: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    dust_value: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    tranches: Mapped[list[Tranche]] = relationship(
        back_populates="position", cascade="all, delete-orphan", order_by="Tranche.opened_at"
    )


class Tranche(Base):
    __tablename__ = "tranches"
    __table_args__ = (sa.Index("ix_tranches_position_open", "position_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    position_id: Mapped[int] = mapped_column(sa.ForeignKey("positions.id", ondelete="CASCADE"))
    trade_id: Mapped[int] = mapped_column(sa.ForeignKey("trades.id"), unique=True)
    entry_price: Mapped[Decimal] = mapped_column(Money)
    base_size: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)  # base*price + fee
    fee: Mapped[Decimal] = mapped_column(Money)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    position: Mapped[Position] = relationship(back_populates="tranches")


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


class PaperBalance(Base):
    __tablename__ = "paper_balances"

    currency: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    available: Mapped[Decimal] = mapped_column(Money)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaperOrder(Base):
    """The paper exchange's own book, persisted so mock orders survive a restart like real ones."""

    __tablename__ = "paper_orders"
    __table_args__ = (sa.Index("ix_paper_orders_status", "status"),)  # open orders (holds, due fills)

    order_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    pair: Mapped[str] = mapped_column(sa.String(32))
    side: Mapped[Side] = mapped_column(enum_column(Side, "paper_side"))
    quote_size: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    base_size: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(24))
    filled_base: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    filled_value: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    total_fees: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    reject_reason: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fill_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaperFill(Base):
    __tablename__ = "paper_fills"
    __table_args__ = (sa.Index("ix_paper_fills_order", "order_id"),)

    fill_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.ForeignKey("paper_orders.order_id", ondelete="CASCADE"))
    price: Mapped[Decimal] = mapped_column(Money)
    base_size: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    liquidity: Mapped[str] = mapped_column(sa.String(16), default="TAKER")
    time: Mapped[datetime] = mapped_column(UTCDateTime)


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
