"""Everything the dashboard overview needs, read for all bots in a fixed number of statements.

The overview is polled every 5 s by every open dashboard. Reading it bot by bot cost 29 SQL
statements at 10 bots and 209 at 100; here each fact is one statement for all bots (a grouped or
correlated query through the index that bounds it), so the count does not grow with the number
of bots (``tests/integration/test_overview_statements.py`` counts them). No rule lives here:
the rows are handed to ``domain/usage.py`` and the position math, which the safety check uses too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, defer

from coinpilot.domain.trade_facts import count_trades_per_bot
from coinpilot.domain.types import TradingMode
from coinpilot.store.models import Bot, ControlState, PaperBalance, Position, Trade, Tranche
from coinpilot.store.repos.trade_counters import NON_FINAL, inflight_buy_quote, trade_facts_since

ZERO = Decimal(0)
# The newest exits read per bot for its loss streak: more than the hard cap on
# max_consecutive_losses (10), so the streak is exact wherever a limit can act on it.
LOSS_STREAK_WINDOW = 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TradeRow = Any  # a Core row of TRADE_BRIEF_COLUMNS (attribute access like a Trade's)


@dataclass
class OverviewFacts:
    bots: list[Bot]
    positions: dict[int, Position]
    open_tranches: dict[int, int]  # position id -> open tranches
    trades_today: dict[int, int]
    last_fill: dict[int, datetime]
    realized_today: dict[int, Decimal]
    recent_exits: dict[int, list[tuple[datetime, Decimal | None]]]  # (time, P&L), newest first
    last_trades: dict[int, TradeRow]  # TRADE_BRIEF_COLUMNS
    recent_trades: list[tuple[TradeRow, str]]
    control: ControlState | None
    inflight_buys: Decimal
    paper_balances: dict[str, Decimal] = field(default_factory=dict)

    @property
    def trades_today_total(self) -> int:
        return sum(self.trades_today.values())

    @property
    def realized_today_total(self) -> Decimal:
        return sum(self.realized_today.values(), ZERO)


def _open_tranches(session: Session, mode: TradingMode) -> dict[int, int]:
    rows = session.execute(
        sa.select(Tranche.position_id, sa.func.count(Tranche.id))
        .join(Position, Position.id == Tranche.position_id)
        .where(Position.mode == mode, Tranche.closed_at.is_(None))
        .group_by(Tranche.position_id)
    )
    return {int(pid): int(n) for pid, n in rows}


def _for_bots(bot_id: int | None, column: Any) -> sa.ColumnElement[bool]:
    """No filter for the overview; one bot for its page."""
    return sa.true() if bot_id is None else column == bot_id


def _listed(bot_id: int | None) -> sa.ColumnElement[bool]:
    """The overview's bots (archived ones left out), or the one bot of a page."""
    return Bot.archived_at.is_(None) if bot_id is None else Bot.id == bot_id


def _trades_today(session: Session, mode: TradingMode, today: datetime, bot_id: int | None) -> dict[int, int]:
    """Today's trades per bot, counted by the domain's rule (the one the safety check uses)."""
    return count_trades_per_bot(trade_facts_since(session, mode, today, bot_id))


def _last_fill(session: Session, mode: TradingMode, bot_id: int | None) -> dict[int, datetime]:
    newest = (
        sa.select(sa.func.max(Trade.last_fill_at))
        .where(Trade.bot_id == Bot.id, Trade.mode == mode)
        .scalar_subquery()
    )
    rows = session.execute(sa.select(Bot.id, newest).where(_listed(bot_id)))
    return {int(b): at for b, at in rows if at is not None}


def _realized_today(
    session: Session, mode: TradingMode, today: datetime, bot_id: int | None
) -> dict[int, Decimal]:
    out: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rows = session.execute(
        sa.select(Trade.bot_id, Trade.realized_pnl)
        .where(Trade.mode == mode, Trade.realized_at >= today)
        .where(_for_bots(bot_id, Trade.bot_id))
    )
    for row_bot, pnl in rows:  # summed in Python: exact Decimal on SQLite too
        if pnl is not None:
            out[int(row_bot)] += pnl
    return dict(out)


def realized_per_bot_since(session: Session, mode: TradingMode, since: datetime) -> dict[int, Decimal]:
    """Each bot's realised P&L booked since ``since`` (one statement for all bots)."""
    return _realized_today(session, mode, since, None)


def bots_with_open_trades(session: Session, mode: TradingMode) -> set[int]:
    """Bots with a trade not final yet (one ``ix_trades_mode_status`` range)."""
    rows = session.execute(
        sa.select(Trade.bot_id).where(Trade.mode == mode, Trade.status.in_(NON_FINAL)).distinct()
    )
    return {int(b) for (b,) in rows}


def _recent_exits(
    session: Session, mode: TradingMode, bot_id: int | None, since: datetime = EPOCH
) -> dict[int, list[tuple[datetime, Decimal | None]]]:
    """Each bot's newest exits (realised P&L, newest first), at most LOSS_STREAK_WINDOW, none
    before ``since`` (the caller's oldest exit that can count: fewer rows, same answer).

    Per bot: the time of its LOSS_STREAK_WINDOW-th newest exit (one ``ix_trades_bot_realized``
    look-up), then the exits at or after it (a short index range), so history never adds work."""
    t2 = aliased(Trade)
    oldest_kept = (
        sa.select(t2.realized_at)
        .where(t2.bot_id == Bot.id, t2.mode == mode, t2.realized_at.is_not(None))
        .order_by(t2.realized_at.desc())
        .limit(1)
        .offset(LOSS_STREAK_WINDOW - 1)
        .correlate(Bot)
        .scalar_subquery()
    )
    # A materialised table of (bot, since) first, so the database walks the bots and then each bot's
    # short range of exits (joined the other way round, SQLite scans every exit).
    windows = (
        sa.select(Bot.id.label("bot_id"), sa.func.coalesce(oldest_kept, EPOCH).label("since"))
        .where(_listed(bot_id))
        .cte("windows")
        .prefix_with("MATERIALIZED")  # not folded into the join (SQLite and PostgreSQL 12+)
    )
    rows = session.execute(
        sa.select(windows.c.bot_id, Trade.realized_at, Trade.realized_pnl)
        .select_from(windows)
        .join(
            Trade,
            sa.and_(
                Trade.bot_id == windows.c.bot_id,
                Trade.mode == mode,
                Trade.realized_at >= windows.c.since,
                Trade.realized_at >= since,
            ),
        )
        .order_by(windows.c.bot_id, Trade.realized_at.desc(), Trade.id.desc())
    )
    out: dict[int, list[tuple[datetime, Decimal | None]]] = defaultdict(list)
    for row_bot, at, pnl in rows:
        if len(out[int(row_bot)]) < LOSS_STREAK_WINDOW:  # ties at the boundary time
            out[int(row_bot)].append((at, pnl))
    return dict(out)


# The columns a trade's row in a list shows (``engine.views.trade_brief``): read as plain rows,
# without the snapshots and status history only the trade page shows (decoding those, and
# building ORM objects, was most of the cost of the overview's and bot page's trade lists).
TRADE_BRIEF_COLUMNS = (
    Trade.id,
    Trade.bot_id,
    Trade.pair,
    Trade.side,
    Trade.intent,
    Trade.status,
    Trade.mode,
    Trade.created_at,
    Trade.requested_quote_size,
    Trade.requested_base_size,
    Trade.filled_base_size,
    Trade.average_fill_price,
    Trade.filled_value,
    Trade.fees,
    Trade.realized_pnl,
    Trade.failure_reason,
    Trade.attention_reason,
)


def _last_trades(session: Session, mode: TradingMode, bot_id: int | None) -> dict[int, TradeRow]:
    """Each bot's newest trade (the highest id: ids grow with creation): one look-up per bot in
    ``ix_trades_bot_mode_id``, then those trades' list columns."""
    newest = (
        sa.select(sa.func.max(Trade.id))
        .where(Trade.bot_id == Bot.id, Trade.mode == mode)
        .correlate(Bot)
        .scalar_subquery()
    )
    # Bot.id in the outer SELECT keeps the subquery correlated (one look-up per bot); selected
    # alone, the subquery would pull ``bots`` in and return one trade for all bots.
    rows = session.execute(sa.select(Bot.id, newest).where(_listed(bot_id)))
    ids = [i for _b, i in rows if i is not None]
    if not ids:
        return {}
    return {t.bot_id: t for t in session.execute(sa.select(*TRADE_BRIEF_COLUMNS).where(Trade.id.in_(ids)))}


def _recent_trades(session: Session, mode: TradingMode, limit: int) -> list[tuple[TradeRow, str]]:
    """The newest trades of all bots (``ix_trades_mode_id``) with their bot's name."""
    newest = sa.select(Trade.id).where(Trade.mode == mode).order_by(Trade.id.desc()).limit(limit).subquery()
    rows = session.execute(
        sa.select(*TRADE_BRIEF_COLUMNS, Bot.name.label("bot_name"))
        .join(newest, newest.c.id == Trade.id)
        .join(Bot, Bot.id == Trade.bot_id)
        .order_by(Trade.id.desc())
    ).all()
    return [(row, row.bot_name) for row in rows]


def load_overview(
    session: Session,
    mode: TradingMode,
    today: datetime,
    recent_limit: int = 20,
    bot_id: int | None = None,
    exits_since: datetime = EPOCH,
) -> OverviewFacts:
    """All bots (or the one ``bot_id``) with their runtime, positions, today's counters, loss
    streaks and last trades. Archived bots are left out (the one ``bot_id`` is read even if
    archived: its page stays readable). ``exits_since``: no exit older than this is read for
    the loss streaks (the loss lock's oldest countable exit)."""
    # Not the bot's signal and strategy settings (JSON the overview does not show): raise, not
    # load one by one, if a reader ever wants them.
    bot_stmt = (
        sa.select(Bot)
        .options(defer(Bot.signal_config, raiseload=True), defer(Bot.strategy, raiseload=True))
        .order_by(Bot.id)
    )
    pos_stmt = sa.select(Position).where(Position.mode == mode)
    if bot_id is not None:
        bot_stmt = bot_stmt.where(Bot.id == bot_id)
        pos_stmt = pos_stmt.where(Position.bot_id == bot_id)
    else:
        bot_stmt = bot_stmt.where(Bot.archived_at.is_(None))
    bots = list(session.scalars(bot_stmt).unique())  # the runtime row is joined
    positions = {p.bot_id: p for p in session.scalars(pos_stmt)}
    balances: dict[str, Decimal] = {}
    if mode is TradingMode.MOCK:
        balances = {b.currency: b.available for b in session.scalars(sa.select(PaperBalance))}
    return OverviewFacts(
        bots=bots,
        positions=positions,
        open_tranches=_open_tranches(session, mode),
        trades_today=_trades_today(session, mode, today, bot_id),
        last_fill=_last_fill(session, mode, bot_id),
        realized_today=_realized_today(session, mode, today, bot_id),
        recent_exits=_recent_exits(session, mode, bot_id, exits_since),
        last_trades=_last_trades(session, mode, bot_id),
        recent_trades=_recent_trades(session, mode, recent_limit),
        control=session.get(ControlState, 1),
        inflight_buys=inflight_buy_quote(session, mode),
        paper_balances=balances,
    )
