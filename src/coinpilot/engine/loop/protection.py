"""What the protection pass reads and writes, in a fixed handful of statements per tick.

The pass runs every tick (about once a second) for every bot holding a position, so its reads
are built once on SQLAlchemy Core and return plain rows: one for the bots with their runtime and
position, one for their open tranches, one for unfinished trades, one for the take-profit rungs
of the current cycles; the high-water marks that moved are written with one executemany. A
bot's parsed configuration comes from the :class:`ConfigCache` (its ORM row is loaded only when
the bot changed since it was last parsed), and its position's state from the
:class:`PositionCache` (its row and open tranches are read again only after a fill changed it).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.decision import BotView, next_high_water
from coinpilot.domain.market import BestBidAsk
from coinpilot.domain.position import PositionState, TrancheState
from coinpilot.domain.types import BotStatus, PositionStatus, TradingMode
from coinpilot.engine.loop import bot_loop
from coinpilot.engine.loop.due_bots import ConfigCache
from coinpilot.store.db import session_scope
from coinpilot.store.models import Bot, BotRuntime, Position, Tranche

ZERO = Decimal(0)

_HOLDING_IDS = (
    sa.select(Position.bot_id, Position.pair)
    .where(Position.mode == sa.bindparam("mode"), Position.base_size > 0)
    .order_by(Position.bot_id)
)


def _raw(column: Any) -> Any:
    """The column as the database stores it (no Decimal/datetime conversion): a change key."""
    return sa.type_coerce(column, sa.String)


# Every tick: the bots holding a position, with what may change between ticks (status,
# high-water mark, protection switch) and the keys that say whether the position changed.
_HOLDING = (
    sa.select(
        Bot.id,
        Bot.pair,
        Bot.status,
        Bot.updated_at,
        BotRuntime.high_water_price,
        BotRuntime.protection_off,
        Position.id,
        Position.opened_at,
        _raw(Position.base_size),
        _raw(Position.cost),
        _raw(Position.updated_at),
    )
    .join(Position, sa.and_(Position.bot_id == Bot.id, Position.mode == sa.bindparam("mode")))
    .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
    .where(Bot.id.in_(sa.bindparam("ids", expanding=True)), Position.base_size > 0)
)

# Only for positions whose key changed since the last tick (a fill was applied).
_POSITIONS = sa.select(
    Position.id,
    Position.base_size,
    Position.cost,
    Position.realized_pnl,
    Position.total_fees,
    Position.status,
    Position.dust_base_size,
    Position.dust_value,
).where(Position.id.in_(sa.bindparam("ids", expanding=True)))

_OPEN_TRANCHES = (
    sa.select(
        Tranche.position_id,
        Tranche.id,
        Tranche.trade_id,
        Tranche.entry_price,
        Tranche.base_size,
        Tranche.cost,
        Tranche.fee,
        Tranche.opened_at,
    )
    .where(Tranche.position_id.in_(sa.bindparam("ids", expanding=True)), Tranche.closed_at.is_(None))
    .order_by(Tranche.position_id, Tranche.opened_at, Tranche.id)
)

_SET_HIGH_WATER = (
    sa.update(BotRuntime)
    .where(BotRuntime.bot_id == sa.bindparam("b_id"))
    .values(high_water_price=sa.bindparam("mark", type_=BotRuntime.high_water_price.type))
)


def holding(sessions: sessionmaker[Session], mode: TradingMode) -> list[tuple[int, str]]:
    """(bot, pair) of every bot that holds a position in this mode, whatever its status."""
    with sessions() as s:
        return [(b, p) for b, p in s.connection().execute(_HOLDING_IDS, {"mode": mode})]


class PositionCache:
    """Each holding position's :class:`PositionState`, kept between ticks and read again only
    when its stored size, cost or update time changed (a fill was applied): in the steady state
    a tick reads one row per bot and no tranches."""

    def __init__(self) -> None:
        self._states: dict[int, tuple[tuple[Any, ...], PositionState]] = {}

    def get(self, position_id: int, key: tuple[Any, ...]) -> PositionState | None:
        cached = self._states.get(position_id)
        return cached[1] if cached is not None and cached[0] == key else None

    def load(self, conn: Any, wanted: dict[int, tuple[Any, ...]]) -> None:
        """Read the positions in ``wanted`` (id -> key) with their open tranches."""
        if not wanted:
            return
        ids = list(wanted)
        tranches: dict[int, list[TrancheState]] = defaultdict(list)
        for t in conn.execute(_OPEN_TRANCHES, {"ids": ids}):
            tranches[t[0]].append(TrancheState(t[2], t[3], t[4], t[5], t[6], t[7]))
        for p in conn.execute(_POSITIONS, {"ids": ids}):
            state = PositionState(
                base_size=p[1],
                cost=p[2],
                realized_pnl=p[3],
                total_fees=p[4],
                tranches=tuple(tranches.get(p[0], ())),
                reducing=p[5] == PositionStatus.REDUCING,
                dust_base_size=p[6] or ZERO,
                dust_value=p[7] or ZERO,
            )
            self._states[p[0]] = (wanted[p[0]], state)

    def keep_only(self, position_ids: set[int]) -> None:
        for gone in set(self._states) - position_ids:
            del self._states[gone]


def load_holding_views(
    sessions: sessionmaker[Session],
    mode: TradingMode,
    ids: list[int],
    cache: ConfigCache,
    positions: PositionCache,
    quotes: dict[str, BestBidAsk],
) -> tuple[dict[int, BotView], list[dict[str, Any]]]:
    """What the decision sees of each bot in ``ids`` that holds a position (any status), with
    its high-water mark already moved by this tick's bid; and the marks that moved (to write)."""
    out: dict[int, BotView] = {}
    moved: list[dict[str, Any]] = []
    if not ids:
        return out, moved
    with sessions() as s:
        conn = s.connection()
        rows = conn.execute(_HOLDING, {"mode": mode, "ids": ids}).all()
        keys = {r[6]: (r[8], r[9], r[10]) for r in rows}
        positions.load(conn, {pid: key for pid, key in keys.items() if positions.get(pid, key) is None})
        positions.keep_only(set(keys))
        held = [r[0] for r in rows]
        open_ids = bot_loop.bots_with_open_trades(s, mode, held)
        opened = {r[0]: r[7] for r in rows if r[7] is not None}
        rungs = bot_loop.rungs_taken(s, mode, opened)
        stale = [r[0] for r in rows if not cache.is_current(r[0], r[3])]
        if stale:
            for bot in s.scalars(sa.select(Bot).where(Bot.id.in_(stale))).unique():
                cache.resolve(bot)
        for r in rows:
            bot_id = r[0]
            position = positions.get(r[6], keys[r[6]])
            if position is None:
                continue  # closed between the two reads: nothing to protect
            quote = quotes.get(r[1])
            mark = next_high_water(position, r[4], quote.bid if quote is not None else None)
            if mark != r[4]:
                moved.append({"b_id": bot_id, "mark": mark})
            out[bot_id] = BotView(
                bot_id=bot_id,
                pair=r[1],
                status=BotStatus(r[2]),
                config=cache.config(bot_id),
                position=position,
                position_opened_at=r[7],
                high_water=mark,
                rungs_taken=rungs.get(bot_id, frozenset()),
                has_open_trade=bot_id in open_ids,
                protection_off=bool(r[5]),
            )
    return out, moved


def write_high_water(sessions: sessionmaker[Session], moved: list[dict[str, Any]]) -> None:
    """Store the high-water marks that moved this tick: one executemany."""
    if moved:
        with session_scope(sessions) as s:
            s.connection().execute(_SET_HIGH_WATER, moved)
