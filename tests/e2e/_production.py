"""Shared pieces of the production-mode tests: settings pointed at the Coinbase stand-in, and the
invariants every fault and crash test checks (stand-in orders <-> trade rows, positions = fills,
safety counters = what was really traded).

The stand-in is the witness: what it says was ordered and filled is "what really happened", and
the database must agree with it exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.config import LimitsConfig, Settings
from coinpilot.domain.types import Side, TradeStatus, TradingMode
from coinpilot.store.models import Fill, Position, Trade

PRODUCTION = TradingMode.PRODUCTION
STAND_IN_FINAL = {"FILLED", "FAILED", "CANCELLED", "EXPIRED"}
ZERO = Decimal(0)


def production_settings(
    *,
    home: Path,
    db_url: str,
    base_url: str,
    cert_path: Path | str,
    key_file: Path,
    api_token: str = "prod-test-token-0123456789-abcdefghijklmnop",
    **overrides: Any,
) -> Settings:
    """Production mode against a loopback stand-in: no cooldown floor or reserve, short timeouts."""
    limits = overrides.pop("limits", LimitsConfig(cooldown_minutes=0, min_reserved_balance_usd=Decimal(0)))
    return Settings(
        home=home,
        database_url=db_url,
        api_token=api_token,
        trading_mode=TradingMode.PRODUCTION,
        coinbase_base_url=base_url,
        coinbase_ca_cert=Path(cert_path),
        coinbase_key_file=key_file,
        limits=limits,
        **{
            "coinbase_timeout_seconds": 2.0,
            "coinbase_max_requests_per_second": 30,
            "candle_cache_ttl_seconds": 0,
            **overrides,
        },
    )


@dataclass(frozen=True)
class StandInOrder:
    """One order as the stand-in knows it (from FakeOrder in-process or the control API)."""

    client_order_id: str
    order_id: str
    pair: str
    side: Side
    status: str
    filled_base: Decimal
    filled_value: Decimal
    fees: Decimal

    @property
    def final(self) -> bool:
        return self.status in STAND_IN_FINAL

    @classmethod
    def from_fake(cls, o: Any) -> StandInOrder:
        return cls(
            o.client_order_id,
            o.order_id,
            o.product_id,
            Side(o.side.lower()),
            o.status,
            o.filled_size,
            o.filled_value,
            o.total_fees,
        )

    @classmethod
    def from_json(cls, o: dict[str, Any]) -> StandInOrder:
        return cls(
            str(o["client_order_id"]),
            str(o["order_id"]),
            str(o["product_id"]),
            Side(str(o["side"]).lower()),
            str(o["status"]),
            Decimal(o["filled_size"]),
            Decimal(o["filled_value"]),
            Decimal(o["total_fees"]),
        )


@dataclass(frozen=True)
class TradeRow:
    id: int
    bot_id: int
    client_order_id: str
    order_id: str | None
    side: Side
    status: TradeStatus
    filled_base: Decimal
    filled_value: Decimal
    fees: Decimal
    position_applied: bool
    created_at: datetime


def trade_rows(sessions: sessionmaker[Session], mode: TradingMode = PRODUCTION) -> list[TradeRow]:
    with sessions() as s:
        return [
            TradeRow(
                t.id,
                t.bot_id,
                t.client_order_id,
                t.order_id,
                Side(t.side),
                TradeStatus(t.status),
                t.filled_base_size,
                t.filled_value,
                t.fees,
                t.position_applied,
                t.created_at,
            )
            for t in s.scalars(sa.select(Trade).where(Trade.mode == mode).order_by(Trade.id))
        ]


def no_duplicate_orders(orders: list[StandInOrder]) -> None:
    per_id = Counter(o.client_order_id for o in orders)
    doubled = {coid: n for coid, n in per_id.items() if n > 1}
    assert not doubled, f"client_order_id placed more than once on the exchange: {doubled}"


def orders_match_trades(
    orders: list[StandInOrder],
    trades: list[TradeRow],
    create_attempts: dict[str, int],
    killed_before_sending: frozenset[int] = frozenset(),
) -> dict[str, TradeRow]:
    """Every stand-in order has exactly one trade row and vice versa (by client_order_id).

    The only trade allowed without an order is one the exchange refused (FAILED, no order id,
    and the stand-in saw a create attempt for it), or, in a crash test, one whose process was
    killed after committing it and before sending it (``killed_before_sending``: trade ids that
    were PENDING without an order id at a kill; start-up reconciliation fails them). Returns
    trades by client_order_id.
    """
    no_duplicate_orders(orders)
    by_coid = Counter(t.client_order_id for t in trades)
    assert all(n == 1 for n in by_coid.values()), f"client_order_id reused by trades: {by_coid}"
    trades_by = {t.client_order_id: t for t in trades}
    for o in orders:
        t = trades_by.get(o.client_order_id)
        assert t is not None, f"lost trade: stand-in order {o} has no trade row"
        assert t.order_id in (None, o.order_id), f"trade {t.id} points at {t.order_id}, not {o.order_id}"
    ordered = {o.client_order_id for o in orders}
    for t in trades:
        if t.client_order_id in ordered:
            continue
        assert t.status == TradeStatus.FAILED and t.order_id is None, (
            f"trade {t.id} ({t.status}, order {t.order_id}) has no order on the exchange"
        )
        assert create_attempts.get(t.client_order_id, 0) >= 1 or t.id in killed_before_sending, (
            f"trade {t.id} never reached the exchange"
        )
    return trades_by


def finished_orders_have_final_trades(orders: list[StandInOrder], trades_by: dict[str, TradeRow]) -> None:
    """Once the exchange finished an order, its trade is final and carries the same figures."""
    for o in orders:
        if not o.final:
            continue
        t = trades_by[o.client_order_id]
        assert t.status.is_final, f"trade {t.id} is {t.status} but the exchange says {o.status}"
        assert t.order_id == o.order_id
        if o.filled_base > 0:
            assert t.position_applied, f"trade {t.id} filled but never applied to its position"
        assert (t.filled_base, t.filled_value, t.fees) == (o.filled_base, o.filled_value, o.fees), (
            f"trade {t.id} figures differ from the exchange's: {t} vs {o}"
        )
        if o.status == "FILLED":
            assert t.status == TradeStatus.SETTLED, f"trade {t.id} is {t.status}, expected SETTLED"


def positions_equal_fills(
    sessions: sessionmaker[Session],
    orders: list[StandInOrder],
    trades_by: dict[str, TradeRow],
    mode: TradingMode = PRODUCTION,
) -> dict[int, Decimal]:
    """Each bot's position size = its recorded fills (fills table) = the exchange's filled sizes."""
    with sessions() as s:
        positions = {
            p.bot_id: p.base_size for p in s.scalars(sa.select(Position).where(Position.mode == mode))
        }
        from_fills: dict[int, Decimal] = {}
        rows = s.execute(
            sa.select(Trade.bot_id, Trade.side, Fill.base_size)
            .join(Fill, Fill.trade_id == Trade.id)
            .where(Trade.mode == mode)
        )
        for bot_id, side, size in rows:
            sign = 1 if Side(side) == Side.BUY else -1
            from_fills[bot_id] = from_fills.get(bot_id, ZERO) + sign * size
    from_exchange: dict[int, Decimal] = {}
    for o in orders:
        bot = trades_by[o.client_order_id].bot_id
        sign = 1 if o.side == Side.BUY else -1
        from_exchange[bot] = from_exchange.get(bot, ZERO) + sign * o.filled_base
    for bot in set(positions) | set(from_fills) | set(from_exchange):
        pos, fills, ex = positions.get(bot, ZERO), from_fills.get(bot, ZERO), from_exchange.get(bot, ZERO)
        assert pos == fills == ex, f"bot {bot}: position {pos}, fills table {fills}, exchange {ex}"
    return positions


def expected_position(fills: list[tuple[Side, Decimal, Decimal, Decimal, Decimal]]) -> dict[str, Decimal]:
    """Average-cost figures (ARCHITECTURE.md) from (side, base, price, fee, value) fills in order,
    ``value`` being the quote value the stand-in accounted (it rounds like Coinbase).

    Computed here independently of coinpilot.domain.position: buys add ``v + f`` to cost; a sell
    realises ``v − f − s·avg_entry`` and removes ``s·avg_entry`` from cost.
    """
    size = cost = realised = fees = ZERO
    for side, b, _p, f, v in fills:
        fees += f
        if side == Side.BUY:
            size += b
            cost += v + f
        else:
            avg = cost / size
            share = cost if b == size else b * avg
            realised += v - f - share
            cost -= share
            size -= b
    return {"base_size": size, "cost": cost, "realized_pnl": realised, "total_fees": fees}


def cents(value: Decimal | str | None) -> Decimal:
    assert value is not None
    return Decimal(str(value)).quantize(Decimal("0.01"))
