"""Fill a database with many bots and a long trade history, for dashboard tests and the bench.

Each bot gets a runtime row (score, price, confirmation), a position with one open tranche, and
settled round trips (buy + sell with a fill each, alternating wins and losses, the last few
losses so loss streaks are non-trivial). Written with bulk Core inserts, so 50,000 trades take
seconds. Mock mode only; the pairs are made-up names (``P0001-USD``...) except where given.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.types import (
    Action,
    BotStatus,
    Granularity,
    PositionStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradeStatus,
    TradingMode,
)
from coinpilot.store.models import Bot, BotRuntime, Fill, Position, Trade, Tranche

MODE = TradingMode.MOCK
SIGNALS = {
    "rsi": {"enabled": True, "weight": 0.4},
    "ma_crossover": {"enabled": True, "weight": 0.3},
    "macd": {"enabled": True, "weight": 0.3},
}


def _bots(session: Session, count: int, now: datetime, pairs: Sequence[str]) -> list[int]:
    first = int(session.scalar(sa.select(sa.func.count(Bot.id))) or 0)  # seeding again adds more
    rows = [
        {
            "name": f"bot-{first + i:04d}",
            "description": "",
            "pair": pairs[i] if i < len(pairs) else f"P{first + i:04d}-USD",
            "status": BotStatus.RUNNING if i % 3 else BotStatus.STOPPED,
            "granularity": Granularity.ONE_HOUR,
            "signal_config": SIGNALS,
            "buy_threshold": 0.3,
            "sell_threshold": 0.3,
            "confirmation_minutes": 5.0,
            "trade_size_usd": Decimal("10"),
            "cooldown_minutes": 15.0,
            "max_tranches": 3,
            "strategy": {},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    ids = list(
        session.execute(sa.insert(Bot).returning(Bot.id, sort_by_parameter_order=True), rows).scalars()
    )
    session.execute(
        sa.insert(BotRuntime),
        [
            {
                "bot_id": b,
                "confirm_action": Action.BUY if i % 2 else None,
                "confirm_since": now - timedelta(minutes=2) if i % 2 else None,
                "last_evaluated_at": now - timedelta(seconds=30),
                "last_score": 0.35 if i % 2 else -0.1,
                "last_action": Action.BUY if i % 2 else Action.HOLD,
                "last_temperature": TemperatureLevel.HOT if i % 2 else TemperatureLevel.COOL,
                "last_price": Decimal("101.25"),
                "last_breakdown": [],
                "consecutive_errors": 0,
            }
            for i, b in enumerate(ids)
        ],
    )
    return ids


def _trade(bot_id: int, pair: str, side: Side, at: datetime, pnl: Decimal | None) -> dict[str, Any]:
    base = Decimal("0.0994")
    value = Decimal("9.94") + (pnl or 0)
    return {
        "bot_id": bot_id,
        "mode": MODE,
        "side": side,
        "intent": TradeIntent.MANUAL if side is Side.BUY else TradeIntent.SIGNAL_EXIT,
        "pair": pair,
        "client_order_id": str(uuid.uuid4()),
        "order_id": str(uuid.uuid4()),
        "status": TradeStatus.SETTLED,
        "requested_quote_size": Decimal("10") if side is Side.BUY else None,
        "requested_base_size": None if side is Side.BUY else base,
        "filled_base_size": base,
        "average_fill_price": Decimal("100"),
        "filled_value": value,
        "fees": Decimal("0.06"),
        "realized_pnl": pnl,
        "realized_at": at if side is Side.SELL else None,
        "last_fill_at": at,
        "position_applied": True,
        "sync_attempts": 0,
        "status_history": [{"status": "SETTLED", "at": at.isoformat(), "note": ""}],
        "created_at": at,
        "opened_at": at,
        "filled_at": at,
        "settled_at": at,
        "updated_at": at,
    }


def seed_dashboard(
    sessions: sessionmaker[Session],
    now: datetime,
    *,
    bots: int,
    trades: int,
    pairs: Sequence[str] = (),
) -> list[int]:
    """``bots`` bots and about ``trades`` trades (round trips spread over the bots, ending
    before ``now``), each bot holding one open tranche. Returns the bot ids."""
    with sessions.begin() as s:
        ids = _bots(s, bots, now, pairs)
        pair_of = dict(s.execute(sa.select(Bot.id, Bot.pair).where(Bot.id.in_(ids))).all())
    trips = max(0, trades - bots) // 2  # one open buy per bot, the rest round trips
    rows: list[dict[str, Any]] = []
    for k in range(trips):
        bot = ids[k % bots]
        at = now - timedelta(minutes=(trips - k) * 3 + 60)
        pnl = Decimal("0.25") if (k // bots) % 3 else Decimal("-0.15")
        rows.append(_trade(bot, pair_of[bot], Side.BUY, at, None))
        rows.append(_trade(bot, pair_of[bot], Side.SELL, at + timedelta(minutes=1), pnl))
    opens = [_trade(b, pair_of[b], Side.BUY, now - timedelta(minutes=30), None) for b in ids]
    with sessions.begin() as s:
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            tids = s.execute(
                sa.insert(Trade).returning(Trade.id, sort_by_parameter_order=True), chunk
            ).scalars()
            s.execute(sa.insert(Fill), [_fill(t, r) for t, r in zip(tids, chunk, strict=True)])
        open_ids = list(
            s.execute(sa.insert(Trade).returning(Trade.id, sort_by_parameter_order=True), opens).scalars()
        )
        s.execute(sa.insert(Fill), [_fill(t, r) for t, r in zip(open_ids, opens, strict=True)])
        pos_ids = list(
            s.execute(
                sa.insert(Position).returning(Position.id, sort_by_parameter_order=True),
                [
                    {
                        "bot_id": b,
                        "mode": MODE,
                        "pair": pair_of[b],
                        "status": PositionStatus.OPEN,
                        "base_size": Decimal("0.0994"),
                        "cost": Decimal("10"),
                        "realized_pnl": Decimal("0"),
                        "total_fees": Decimal("0.06"),
                        "opened_at": now - timedelta(minutes=30),
                        "updated_at": now,
                    }
                    for b in ids
                ],
            ).scalars()
        )
        s.execute(
            sa.insert(Tranche),
            [
                {
                    "position_id": p,
                    "trade_id": t,
                    "entry_price": Decimal("100"),
                    "base_size": Decimal("0.0994"),
                    "cost": Decimal("10"),
                    "fee": Decimal("0.06"),
                    "opened_at": now - timedelta(minutes=30),
                    "closed_at": None,
                }
                for p, t in zip(pos_ids, open_ids, strict=True)
            ],
        )
    return ids


def _fill(trade_id: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "trade_id": trade_id,
        "fill_id": str(uuid.uuid4()),
        "price": Decimal("100"),
        "base_size": row["filled_base_size"],
        "fee": Decimal("0.06"),
        "liquidity": "TAKER",
        "time": row["created_at"],
    }
