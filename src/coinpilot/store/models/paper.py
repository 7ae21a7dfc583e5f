"""The paper exchange's balances, order book and fills (mock mode), persisted across restarts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from coinpilot.domain.types import Side
from coinpilot.store.coltypes import Money, UTCDateTime, enum_column
from coinpilot.store.models.base import Base


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
