"""What the protection pass reads and writes each tick, and what it remembers between ticks.

The pass runs every tick (about once a second) for every bot holding a position, and almost
always nothing but the high-water marks changes. So :class:`ProtectionBook` keeps, per holding
bot, its position (with open tranches), take-profit rungs taken, parsed configuration and the
:class:`~coinpilot.domain.exit_levels.ExitLevels` derived from them, and a tick reads:

* one row per holding bot with the values that may change between ticks (status, high-water
  mark, protection switch) and, stored as the database holds them (no Decimal or datetime
  conversion), the keys that say whether the bot's configuration or its position changed;
* the unfinished trades of the mode (a handful): bots with one in flight decide nothing, and a
  change in a bot's unfinished trades (or in its position) is what can change its rungs taken;
* only for bots whose keys changed: their position and tranches, rungs and configuration.

Each bot's high-water mark moves with the bid and the marks that moved are written with one
executemany before anything is decided (a crash between ticks loses no mark). Then the float
pre-check :meth:`ExitLevels.quiet` sets aside every bot whose bid is nowhere near a level; only
the others get a :class:`BotView` for the exact :func:`~coinpilot.domain.decision.decide`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.decision import BotView, next_high_water
from coinpilot.domain.exit_levels import ExitLevels
from coinpilot.domain.market import BestBidAsk
from coinpilot.domain.position import PositionState, TrancheState
from coinpilot.domain.types import BotStatus, PositionStatus, TradingMode
from coinpilot.engine.loop import bot_loop
from coinpilot.engine.loop.due_bots import ConfigCache
from coinpilot.store.db import read_session, session_scope
from coinpilot.store.models import Bot, BotRuntime, Position, Trade, Tranche
from coinpilot.store.repos.trades import NON_FINAL

log = logging.getLogger("coinpilot.engine")

ZERO = Decimal(0)
_UNREAD: Any = object()  # a high-water mark not read from the database yet

_HOLDING_IDS = (
    sa.select(Position.bot_id, Position.pair)
    .where(Position.mode == sa.bindparam("mode"), Position.base_size > 0)
    .order_by(Position.bot_id)
)


def _raw(column: Any) -> Any:
    """The column as the database stores it (no Decimal/datetime conversion): a change key."""
    return sa.type_coerce(column, sa.String)


# Every tick: every bot holding a position in the mode (the caller keeps the ones it protects),
# with what may change between ticks and the keys that say whether the bot or position changed.
_HOLDING = (
    sa.select(
        Bot.id,
        Bot.pair,
        _raw(Bot.status),
        _raw(Bot.updated_at),
        _raw(BotRuntime.high_water_price),
        BotRuntime.protection_off,
        Position.id,
        _raw(Position.base_size),
        _raw(Position.cost),
        _raw(Position.updated_at),
    )
    .join(Position, sa.and_(Position.bot_id == Bot.id, Position.mode == sa.bindparam("mode")))
    .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
    .where(Position.base_size > 0)
)

# Every tick: the mode's unfinished trades (few). One not needing attention holds its bot back.
_UNFINISHED = sa.select(Trade.bot_id, Trade.id, _raw(Trade.status), Trade.attention_reason.is_(None)).where(
    Trade.mode == sa.bindparam("mode"), Trade.status.in_(NON_FINAL)
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
    Position.opened_at,
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

# By paramstyle (SQLite: qmark, psycopg: pyformat). Plain driver SQL: the executemany of a
# tick where every mark moves is the pass's largest write.
_SET_HIGH_WATER_SQL = {
    "qmark": "UPDATE bot_runtime SET high_water_price = ? WHERE bot_id = ?",
    "pyformat": "UPDATE bot_runtime SET high_water_price = %s WHERE bot_id = %s",
    "format": "UPDATE bot_runtime SET high_water_price = %s WHERE bot_id = %s",
}


def holding(sessions: sessionmaker[Session], mode: TradingMode) -> list[tuple[int, str]]:
    """(bot, pair) of every bot that holds a position in this mode, whatever its status."""
    with sessions() as s:
        return [(b, p) for b, p in s.connection().execute(_HOLDING_IDS, {"mode": mode}).fetchall()]


class _Held:
    """What the book remembers of one holding bot between ticks."""

    __slots__ = (
        "bot_key",
        "broken",
        "levels",
        "mark",
        "mark_f",
        "mark_raw",
        "mark_read",
        "opened_at",
        "position",
        "position_id",
        "position_key",
        "protection_off",
        "rungs",
        "unfinished",
    )

    def __init__(self) -> None:
        self.bot_key: Any = None
        self.position_id: int | None = None
        self.position_key: tuple[Any, ...] | None = None
        self.position = PositionState()
        self.opened_at: datetime | None = None
        self.unfinished: frozenset[tuple[Any, ...]] | None = None
        self.rungs: frozenset[int] = frozenset()
        self.protection_off = False
        self.levels: ExitLevels | None = None  # None: to be computed
        self.broken = False  # its configuration does not parse (said once per change)
        self.mark_raw: Any = _UNREAD
        self.mark_read = False  # ``mark`` is as read from the database (not as this book wrote it)
        self.mark: Decimal | None = None
        self.mark_f: float | None = None


class ProtectionBook:
    """The holding bots' state kept between ticks of one process (see the module docstring).

    Every value it keeps is re-read when its key in the database changes, so writes by other
    threads or processes (fills, settlements, configuration edits, a person's switch) are seen
    on the next tick."""

    def __init__(self, sessions: sessionmaker[Session], mode: TradingMode, configs: ConfigCache) -> None:
        self._sessions = sessions
        self._mode = mode
        self._configs = configs
        self._held: dict[int, _Held] = {}
        self._hw_type = BotRuntime.high_water_price.type
        self._guard = threading.Lock()  # one tick at a time

    def check(
        self, ids: list[int], quotes: dict[str, BestBidAsk]
    ) -> tuple[dict[int, BotView], list[tuple[Any, int]]]:
        """Move the high-water mark of every bot in ``ids`` that holds a position (any status)
        with this tick's bid; return the views of the bots an exit may fire for (to decide
        exactly) and the marks that moved (to write)."""
        with self._guard:
            return self._check(ids, quotes)

    def _check(
        self, ids: list[int], quotes: dict[str, BestBidAsk]
    ) -> tuple[dict[int, BotView], list[tuple[Any, int]]]:
        views: dict[int, BotView] = {}
        moved: list[tuple[Any, int]] = []
        if not ids:
            return views, moved
        wanted = set(ids)
        with read_session(self._sessions) as s:
            conn = s.connection()
            rows = [r for r in conn.execute(_HOLDING, {"mode": self._mode}).fetchall() if r[0] in wanted]
            unfinished: dict[int, set[tuple[Any, ...]]] = defaultdict(set)
            for t in conn.execute(_UNFINISHED, {"mode": self._mode}).fetchall():
                unfinished[t[0]].add((t[1], t[2], bool(t[3])))
            try:
                self._refresh(s, rows, unfinished)
            except BaseException:
                self._held = {}  # half-refreshed memory is never trusted: rebuilt next tick
                raise
            to_decimal = self._hw_type.result_processor(conn.dialect, None)
            to_raw = self._hw_type.bind_processor(conn.dialect)
        bids: dict[str, tuple[Decimal, float]] = {}
        for r in rows:
            bot_id, pair = r[0], r[1]
            held = self._held.get(bot_id)
            if held is None or held.levels is None:
                continue  # its configuration could not be read (logged): nothing to decide on
            if r[4] != held.mark_raw:  # changed since this book last wrote or read it
                held.mark_raw = r[4]
                held.mark = to_decimal(r[4]) if to_decimal is not None else r[4]
                held.mark_f = float(held.mark) if held.mark is not None else None
                held.mark_read = True
            quote = quotes.get(pair)
            if quote is None:
                continue
            bid = bids.get(pair)
            if bid is None:
                bid = bids[pair] = (quote.bid, float(quote.bid))
            mark = next_high_water(held.position, held.mark, bid[0])
            if mark != held.mark:
                stored = to_raw(mark) if to_raw is not None else mark
                moved.append((stored, bot_id))
                # What the database will hold: next tick's row equals it unless someone else
                # wrote the mark meanwhile (then it is read again).
                held.mark_raw, held.mark, held.mark_read = stored, mark, False
                held.mark_f = bid[1] if mark is bid[0] else (float(mark) if mark is not None else None)
            if held.unfinished and any(u[2] for u in held.unfinished):
                continue  # an order in flight: nothing is decided (one order at a time per bot)
            if held.levels.quiet(bid[1], held.mark_f):
                continue  # certainly no exit at this bid (domain/exit_levels.py)
            views[bot_id] = BotView(
                bot_id=bot_id,
                pair=pair,
                status=BotStatus(r[2]),
                config=self._configs.config(bot_id),
                position=held.position,
                position_opened_at=held.opened_at,
                high_water=mark if held.mark_read or mark is bid[0] else to_decimal(held.mark_raw),
                rungs_taken=held.rungs,
                has_open_trade=False,
                protection_off=held.protection_off,
            )
        return views, moved

    def _refresh(self, s: Session, rows: list[Any], unfinished: dict[int, set[tuple[Any, ...]]]) -> None:
        """Re-read what changed since the last tick: positions, rungs, configurations."""
        conn = s.connection()
        positions: dict[int, tuple[Any, ...]] = {}  # position id -> key, to read
        rungs: set[int] = set()
        configs: list[int] = []
        present: dict[int, _Held] = {}
        for r in rows:
            bot_id = r[0]
            held = self._held.get(bot_id) or _Held()
            present[bot_id] = held
            key = (r[7], r[8], r[9])
            if held.position_id != r[6] or held.position_key != key:
                held.position_id, held.position_key = r[6], key
                positions[r[6]] = key
                rungs.add(bot_id)
            mine = frozenset(unfinished.get(bot_id, ()))
            if mine != held.unfinished:
                held.unfinished = mine
                rungs.add(bot_id)  # a take-profit trade started, finished or needs attention
            if held.bot_key != r[3]:
                configs.append(bot_id)
            if bool(r[5]) != held.protection_off:
                held.protection_off = bool(r[5])
                held.levels = None
        self._held = present  # bots no longer holding (or not ours) are forgotten
        if positions:
            by_position = {h.position_id: h for h in present.values() if h.position_id in positions}
            for position_id, (state, opened_at) in _read_positions(conn, list(positions)).items():
                held = by_position[position_id]
                held.position, held.opened_at, held.levels = state, opened_at, None
        if rungs:
            opened: dict[int, datetime] = {}
            for b in rungs:
                when = present[b].opened_at
                if when is not None:
                    opened[b] = when
            taken = bot_loop.rungs_taken(s, self._mode, opened)
            for b in rungs:
                if taken.get(b, frozenset()) != present[b].rungs or present[b].levels is None:
                    present[b].rungs, present[b].levels = taken.get(b, frozenset()), None
        if configs:
            bot_keys = {r[0]: r[3] for r in rows}
            for bot in s.scalars(sa.select(Bot).where(Bot.id.in_(configs))).unique():
                held = present[bot.id]
                held.bot_key, held.levels = bot_keys[bot.id], None
                try:
                    self._configs.resolve(bot)
                    held.broken = False
                except Exception:
                    held.broken = True
                    log.exception("bot %s: configuration does not parse; position not protected", bot.id)
        for bot_id, held in present.items():
            if held.levels is None and not held.broken:
                strategy = self._configs.strategy(bot_id)
                held.levels = ExitLevels.of(held.position, strategy, held.rungs, held.protection_off)


def _read_positions(conn: Any, ids: list[int]) -> dict[int, tuple[PositionState, datetime | None]]:
    """The positions ``ids`` with their open tranches, as the decision sees them."""
    tranches: dict[int, list[TrancheState]] = defaultdict(list)
    for t in conn.execute(_OPEN_TRANCHES, {"ids": ids}):
        tranches[t[0]].append(TrancheState(t[2], t[3], t[4], t[5], t[6], t[7]))
    out: dict[int, tuple[PositionState, datetime | None]] = {}
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
        out[p[0]] = (state, p[8])
    return out


def write_high_water(sessions: sessionmaker[Session], moved: list[tuple[Any, int]]) -> None:
    """Store the high-water marks that moved this tick: one executemany of (stored mark, bot)
    pairs already in the column's stored form (:meth:`ProtectionBook.check` converts them), so
    a tick with every mark moving costs the driver's executemany and little more."""
    if not moved:
        return
    with session_scope(sessions) as s:
        conn = s.connection()
        conn.exec_driver_sql(_SET_HIGH_WATER_SQL[conn.dialect.paramstyle], moved)
