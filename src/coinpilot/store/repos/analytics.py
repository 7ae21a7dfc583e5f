"""Reads for analytics and CSV export: plain rows, one mode at a time (mock and production are
never read together, so no figure can mix them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.analytics import RealisedEvent
from coinpilot.domain.types import TradingMode
from coinpilot.store.bots import bot_label
from coinpilot.store.models import Bot, Evaluation, Fill, Trade

TRADE_COLUMNS = (
    "id", "bot", "pair", "mode", "side", "intent", "status", "created_at", "filled_at",
    "requested_quote_size", "requested_base_size", "filled_base_size", "average_fill_price",
    "filled_value", "fees", "realized_pnl", "realized_at", "client_order_id", "order_id",
    "failure_reason",
)  # fmt: skip
FILL_COLUMNS = (
    "trade_id",
    "bot",
    "pair",
    "mode",
    "side",
    "fill_id",
    "time",
    "price",
    "base_size",
    "fee",
    "liquidity",
)


def realised_events(session: Session, mode: TradingMode, bot_id: int | None = None) -> list[RealisedEvent]:
    """Every exit that realised P&L in ``mode``, oldest first."""
    q = (
        sa.select(Trade.realized_at, Bot.name, Bot.id, Bot.archived_at, Trade.realized_pnl, Trade.intent)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode, Trade.realized_pnl.is_not(None), Trade.realized_at.is_not(None))
        .order_by(Trade.realized_at, Trade.id)
    )
    if bot_id is not None:
        q = q.where(Trade.bot_id == bot_id)
    return [
        RealisedEvent(at, bot_label(name, bid, archived), pnl, intent.value)
        for at, name, bid, archived, pnl, intent in session.execute(q)
        if at is not None and pnl is not None  # the query excludes them; this tells mypy
    ]


def fees_by_bot(session: Session, mode: TradingMode, bot_id: int | None = None) -> dict[str, Decimal]:
    """Fees paid per bot in ``mode`` (entries and exits), summed as Decimals in Python because
    SQLite stores money as text."""
    q = (
        sa.select(Bot.name, Bot.id, Bot.archived_at, Trade.fees)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode)
    )
    if bot_id is not None:
        q = q.where(Trade.bot_id == bot_id)
    totals: dict[str, Decimal] = {}
    for name, bid, archived, fee in session.execute(q):
        label = bot_label(name, bid, archived)
        totals[label] = totals.get(label, Decimal(0)) + (fee or Decimal(0))
    return dict(sorted(totals.items()))


def signal_scores(
    session: Session, bot_id: int, limit: int
) -> list[tuple[datetime, dict[str, float | None]]]:
    """(evaluated_at, {signal: score}) of a bot's stored evaluations, oldest first."""
    rows = session.execute(
        sa.select(Evaluation.evaluated_at, Evaluation.breakdown)
        .where(Evaluation.bot_id == bot_id)
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
        .limit(limit)
    ).all()
    out = []
    for at, breakdown in reversed(rows):
        scores = {}
        for sig in breakdown or []:
            score = sig.get("score")
            scores[str(sig.get("name"))] = None if sig.get("status") != "ok" else score
        out.append((at, scores))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))


def trade_rows(session: Session, mode: TradingMode) -> Iterator[list[str]]:
    """Trades of ``mode`` as CSV cells (exact decimals as text, times in ISO 8601 UTC), by id."""
    q = (
        sa.select(Trade, Bot.name)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode)
        .order_by(Trade.id)
        .execution_options(yield_per=1000)
    )
    for trade, bot_name in session.execute(q):
        yield [_text(bot_name) if c == "bot" else _text(getattr(trade, c)) for c in TRADE_COLUMNS]


def fill_rows(session: Session, mode: TradingMode) -> Iterator[list[str]]:
    q = (
        sa.select(Fill, Trade.side, Trade.pair, Trade.mode, Bot.name)
        .join(Trade, Trade.id == Fill.trade_id)
        .join(Bot, Bot.id == Trade.bot_id)
        .where(Trade.mode == mode)
        .order_by(Fill.time, Fill.id)
        .execution_options(yield_per=1000)
    )
    for fill, side, pair, trade_mode, bot_name in session.execute(q):
        extra = {"bot": bot_name, "pair": pair, "mode": trade_mode, "side": side}
        yield [_text(extra[c]) if c in extra else _text(getattr(fill, c)) for c in FILL_COLUMNS]
