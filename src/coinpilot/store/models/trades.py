"""Orders (trades) with their fills, and the positions and entry tranches they build."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coinpilot.domain.types import (
    PositionStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradeStatus,
    TradingMode,
)
from coinpilot.store.coltypes import Money, UTCDateTime, enum_column
from coinpilot.store.models.base import Base, JSONType


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
