"""The counters safety reads under the trading lock, split from the trade rows they count.

Daily trade counts, the last fill, realised P&L sums, the loss streak, buys in flight and open
trades: what ``store/repos/snapshot.py`` gathers for every safety check (and the control views
show). Every query takes the trading mode: a production trade never counts in a mock figure.

The queries the order path runs under the trading lock (``in_flight``, the daily counts, the
realised P&L sums, the loss streak, the last fill) are built once, with bind parameters, and run
on the session's Core connection: building a SQLAlchemy statement costs more than SQLite takes
to run it, and the lock is held for as long as they take. Each reads through an index bounded by
the day, the week or the bot, never the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.loss_lock import leading_losses
from coinpilot.domain.state import OrderInFlight
from coinpilot.domain.trade_facts import (
    TradeFact,
    count_trades,
    count_trades_per_bot,
    inflight_buy_value,
)
from coinpilot.domain.types import FINAL_TRADE_STATUSES, Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.store.models import Bot, SafetyAudit, Trade

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NON_FINAL = tuple(s for s in TradeStatus if s not in FINAL_TRADE_STATUSES)


_ACKNOWLEDGED = Trade.order_id.is_not(None)


def trade_facts_since(
    session: Session, mode: TradingMode, since: datetime, bot_id: int | None = None
) -> list[TradeFact]:
    """The trades created at/after ``since``, grouped by bot, status and acknowledged or not;
    which of them count against the daily limits is :mod:`coinpilot.domain.trade_facts`'s to
    say. Read through ``ix_trades_mode_created``: bounded by the day."""
    stmt = sa.select(Trade.bot_id, Trade.status, _ACKNOWLEDGED, sa.func.count(Trade.id)).where(
        Trade.mode == mode, Trade.created_at >= since
    )
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    stmt = stmt.group_by(Trade.bot_id, Trade.status, _ACKNOWLEDGED)
    return [TradeFact(int(b), TradeStatus(st), bool(ack), int(n)) for b, st, ack, n in session.execute(stmt)]


def count_trades_since(
    session: Session, mode: TradingMode, since: datetime, bot_id: int | None = None
) -> int:
    return count_trades(trade_facts_since(session, mode, since, bot_id), bot_id)


def count_trades_per_bot_since(session: Session, mode: TradingMode, since: datetime) -> dict[int, int]:
    return count_trades_per_bot(trade_facts_since(session, mode, since))


def last_fill_per_bot(session: Session, mode: TradingMode) -> dict[int, datetime]:
    """Each bot's newest fill time, one ``ix_trades_bot_last_fill`` look-up per bot."""
    newest = (
        sa.select(sa.func.max(Trade.last_fill_at))
        .where(Trade.bot_id == Bot.id, Trade.mode == mode)
        .scalar_subquery()
    )
    rows = session.execute(sa.select(Bot.id, newest))
    return {int(bot_id): at for bot_id, at in rows if at is not None}


def open_trades(session: Session, mode: TradingMode, bot_id: int | None = None) -> list[Trade]:
    stmt = sa.select(Trade).where(Trade.mode == mode, Trade.status.in_(NON_FINAL))
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return list(session.scalars(stmt.order_by(Trade.id)))


def realized_since(
    session: Session, mode: TradingMode, since: datetime, bot_id: int | None = None
) -> Decimal:
    """Sum of realised P&L booked (exits settled, or closed with partial fills) at/after ``since``."""
    stmt = sa.select(Trade.realized_pnl).where(Trade.mode == mode, Trade.realized_at >= since)
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return sum((v for v in session.scalars(stmt) if v is not None), ZERO)


_REALIZED_COLUMNS = (Trade.bot_id, Trade.realized_pnl, Trade.realized_at)
_REALIZED_TODAY_AND_WEEK = sa.union_all(
    sa.select(*_REALIZED_COLUMNS).where(
        Trade.mode == sa.bindparam("mode"), Trade.realized_at >= sa.bindparam("today")
    ),
    sa.select(*_REALIZED_COLUMNS).where(
        Trade.bot_id == sa.bindparam("bot_id"),
        Trade.mode == sa.bindparam("mode"),
        Trade.realized_at >= sa.bindparam("week"),
        Trade.realized_at < sa.bindparam("today"),
    ),
)


def realized_today_and_week(
    session: Session, mode: TradingMode, today: datetime, week: datetime, bot_id: int
) -> tuple[Decimal, Decimal, Decimal]:
    """(all bots' realised P&L since ``today``, this bot's since ``today``, this bot's since
    ``week``): three :func:`realized_since` sums from one query. Each arm of the union reads an
    index range bounded by the day or the week, never the whole history."""
    params = {"mode": mode, "today": today, "week": week, "bot_id": bot_id}
    today_all = today_bot = week_bot = ZERO
    for row_bot, pnl, at in session.connection().execute(_REALIZED_TODAY_AND_WEEK, params):
        if pnl is None or at is None:
            continue
        if at >= today:
            today_all += pnl
            if row_bot == bot_id:
                today_bot += pnl
        if row_bot == bot_id and at >= week:
            week_bot += pnl
    return today_all, today_bot, week_bot


LOSS_STREAK_CAP = 200
_RECENT_EXITS = (
    sa.select(Trade.realized_at, Trade.realized_pnl)
    .where(
        Trade.bot_id == sa.bindparam("bot_id"),
        Trade.mode == sa.bindparam("mode"),
        Trade.realized_at.is_not(None),
        Trade.realized_at >= sa.bindparam("since"),
    )
    .order_by(Trade.realized_at.desc(), Trade.id.desc())
    .limit(sa.bindparam("limit"))
)


def recent_exits(
    session: Session, mode: TradingMode, bot_id: int, since: datetime, limit: int
) -> list[tuple[datetime, Decimal | None]]:
    """The bot's newest ``limit`` realised exits since ``since`` (time, P&L), newest first.

    What counts as a loss and what locks the bot is decided in :mod:`coinpilot.domain.loss_lock`;
    this read is bounded by the window and the limit (``ix_trades_bot_realized``), so its cost
    does not grow with history."""
    params = {"bot_id": bot_id, "mode": mode, "since": since, "limit": limit}
    return [(at, pnl) for at, pnl in session.connection().execute(_RECENT_EXITS, params) if at is not None]


def consecutive_losses(session: Session, mode: TradingMode, bot_id: int) -> int:
    """Losing exits in a row over the bot's whole history, newest first (at most 200): shown in
    the safety status; the lock itself only counts exits in its window."""
    exits = recent_exits(session, mode, bot_id, EPOCH, LOSS_STREAK_CAP)
    return leading_losses(exits)


def inflight_buy_quote(session: Session, mode: TradingMode, bot_id: int | None = None) -> Decimal:
    """Quote committed by buys not yet applied to a position (counted as exposure: fail-safe)."""
    stmt = sa.select(Trade).where(
        Trade.mode == mode,
        Trade.side == Side.BUY,
        Trade.status.in_(NON_FINAL),
        Trade.position_applied.is_(False),
    )
    if bot_id is not None:
        stmt = stmt.where(Trade.bot_id == bot_id)
    return sum((_inflight_quote(session, t) for t in session.scalars(stmt)), ZERO)


@dataclass(frozen=True)
class InFlight:
    """What the safety check needs from the non-final trades of one mode."""

    buy_quote_bot: Decimal  # inflight_buy_quote(session, mode, bot_id)
    buy_quote_all: Decimal  # inflight_buy_quote(session, mode)
    bot_has_open_trade: bool  # a non-final trade of the bot that the sync is still driving
    # Per currency, what in-flight orders will take from the account that a balance read at
    # ``balances_read_at`` may not show yet: orders not acknowledged before that read (buys
    # spend the quote currency, sells the base currency). Counted once, stricter if in doubt.
    unheld: dict[str, Decimal] = field(default_factory=dict)
    bot_needs_attention: bool = False  # a non-final trade of the bot the sync gave up on
    # The bot's non-final orders as the kernel's state holds them (oldest first).
    bot_orders: tuple[OrderInFlight, ...] = ()


_IN_FLIGHT_COLUMNS = (
    Trade.id,
    Trade.bot_id,
    Trade.side,
    Trade.position_applied,
    Trade.requested_quote_size,
    Trade.requested_base_size,
    Trade.average_fill_price,
    Trade.safety_audit_id,
    Trade.attention_reason,
    Trade.pair,
    Trade.opened_at,
    Trade.intent,
    Trade.status,
    Trade.order_id.is_not(None).label("acknowledged"),
    Trade.created_at,
)
_IN_FLIGHT = sa.select(sa.literal(True).label("open"), *_IN_FLIGHT_COLUMNS).where(
    Trade.mode == sa.bindparam("mode"), Trade.status.in_(NON_FINAL)
)


OTHER_BOTS = 0  # the bot id today's grouped facts give the trades of every other bot


def _today_arm() -> sa.Select[Any]:
    """Today's trades grouped by status, acknowledged or not, and whether they are the judged
    bot's (the others' carry :data:`OTHER_BOTS`), in the in-flight read's columns: ``id``
    carries the group's count, the columns a fact does not need are NULL. A handful of rows
    whatever the number of bots: what is left for Python to read is small."""
    owner = sa.case((Trade.bot_id == sa.bindparam("bot_id"), Trade.bot_id), else_=sa.literal(OTHER_BOTS))
    kept = {"bot_id": owner, "status": Trade.status, "acknowledged": _ACKNOWLEDGED}
    columns: list[Any] = [sa.literal(False).label("open"), sa.func.count(Trade.id).label("id")]
    for c in _IN_FLIGHT_COLUMNS[1:]:
        columns.append(kept[c.key].label(c.key) if c.key in kept else sa.null().label(c.key))
    return (
        sa.select(*columns)
        .where(Trade.mode == sa.bindparam("mode"), Trade.created_at >= sa.bindparam("today"))
        .group_by(owner, Trade.status, _ACKNOWLEDGED)
    )


# The same read plus today's trades grouped (for the daily counts), in one statement: two index
# ranges (``ix_trades_mode_status``, ``ix_trades_mode_created``), each bounded, so counting in
# the domain instead of in SQL costs no extra round trip under the trading lock.
_IN_FLIGHT_AND_TODAY: sa.CompoundSelect[Any] = sa.union_all(_IN_FLIGHT, _today_arm())


def in_flight(
    session: Session,
    mode: TradingMode,
    bot_id: int,
    balances_read_at: datetime | None = None,
    exclude_trade_id: int | None = None,
) -> InFlight:
    """One read of the mode's non-final trades instead of three queries (same rules).

    With ``balances_read_at`` it also sums, per currency, the orders of every bot that a balance
    read at that time may not reflect: an order acknowledged by the exchange before the read is
    already in the exchange's ``available`` (as a hold or a fill); one still PENDING, or
    acknowledged at or after the read, may not be, so it is subtracted (never missed, at worst
    counted twice). This is what makes the reserve hold against simultaneous buys of two bots.
    ``exclude_trade_id``: a trade judged again (a re-send's fresh approval) is not its own
    obstacle.
    """
    rows = session.connection().execute(_IN_FLIGHT, {"mode": mode}).all()
    return _in_flight_of(session, rows, bot_id, balances_read_at, exclude_trade_id)


def in_flight_and_today(
    session: Session,
    mode: TradingMode,
    bot_id: int,
    today: datetime,
    balances_read_at: datetime | None = None,
    exclude_trade_id: int | None = None,
) -> tuple[InFlight, list[TradeFact]]:
    """:func:`in_flight` and today's trade facts from one statement: the facts of ``bot_id``
    under its id, every other bot's under :data:`OTHER_BOTS` (what the daily counts need)."""
    params = {"mode": mode, "today": today, "bot_id": bot_id}
    rows = session.connection().execute(_IN_FLIGHT_AND_TODAY, params).all()
    facts = [
        TradeFact(int(t.bot_id), TradeStatus(t.status), bool(t.acknowledged), int(t.id))
        for t in rows
        if not t.open
    ]
    open_rows = [t for t in rows if t.open]
    # A trade judged again (a re-send's fresh approval) is not counted against itself either.
    again = next((t for t in open_rows if t.id == exclude_trade_id), None) if exclude_trade_id else None
    if again is not None and again.created_at >= today:
        owner = int(again.bot_id) if again.bot_id == bot_id else OTHER_BOTS
        facts.append(TradeFact(owner, TradeStatus(again.status), bool(again.acknowledged), -1))
    inflight = _in_flight_of(session, open_rows, bot_id, balances_read_at, exclude_trade_id)
    return inflight, facts


def _in_flight_of(
    session: Session,
    rows: Sequence[Any],
    bot_id: int,
    balances_read_at: datetime | None,
    exclude_trade_id: int | None,
) -> InFlight:
    bot_quote = all_quote = ZERO
    bot_open = bot_attention = False
    unheld: dict[str, Decimal] = {}
    orders: list[OrderInFlight] = []
    for t in rows:
        if t.id == exclude_trade_id:
            continue
        quote: Decimal | None = None
        if t.side == Side.BUY and not t.position_applied:
            quote = _inflight_quote(session, t)
            all_quote += quote
            if t.bot_id == bot_id:
                bot_quote += quote
        if t.bot_id == bot_id:
            if t.attention_reason is None:
                bot_open = True
            else:
                bot_attention = True
            orders.append(_order_of(t, quote))
        if balances_read_at is None or (t.opened_at is not None and t.opened_at < balances_read_at):
            continue
        base_cur, _, quote_cur = str(t.pair).partition("-")
        if t.side == Side.BUY:
            if quote is None:  # valued once: a base-sized buy may cost a read of its audit row
                quote = _inflight_quote(session, t)
            unheld[quote_cur] = unheld.get(quote_cur, ZERO) + quote
        elif t.requested_base_size is not None:
            unheld[base_cur] = unheld.get(base_cur, ZERO) + t.requested_base_size
    return InFlight(bot_quote, all_quote, bot_open, unheld, bot_attention, tuple(orders))


def _order_of(t: Any, value: Decimal | None) -> OrderInFlight:
    """A non-final trade row as the kernel's :class:`OrderInFlight`. A buy already applied to
    the position commits nothing more: it is held with a zero quote size."""
    quote, base = t.requested_quote_size, t.requested_base_size
    if t.side == Side.BUY:
        # Held by the value it was counted at, so the state's figures are the row's exactly.
        quote, base = (value if value is not None else ZERO), None
    return OrderInFlight(
        side=Side(t.side),
        intent=TradeIntent(t.intent),
        quote_size=quote,
        base_size=base,
        approved_price=None,
        trade_id=int(t.id),
        accepted_at=t.created_at,
        acknowledged=bool(t.acknowledged),
        fill_price=t.average_fill_price,
        needs_attention=t.attention_reason is not None,
    )


class _Sized(Protocol):
    """The columns of a trade that say how much quote it commits (an ORM row or a Core row)."""

    @property
    def requested_quote_size(self) -> Decimal | None: ...
    @property
    def requested_base_size(self) -> Decimal | None: ...
    @property
    def average_fill_price(self) -> Decimal | None: ...
    @property
    def safety_audit_id(self) -> int | None: ...


def _inflight_quote(session: Session, t: _Sized) -> Decimal:
    """The quote a buy in flight commits (:func:`coinpilot.domain.trade_facts.inflight_buy_value`);
    the approved price is read from its audit row only when the valuation needs it."""
    approved = None
    if t.requested_quote_size is None and t.average_fill_price is None:
        approved = _approved_price(session, t.safety_audit_id)
    return inflight_buy_value(t.requested_quote_size, t.requested_base_size, t.average_fill_price, approved)


def _approved_price(session: Session, audit_id: int | None) -> Decimal | None:
    """The price in the safety request that let a trade through (its audit row)."""
    audit = session.get(SafetyAudit, audit_id) if audit_id else None
    raw = (audit.request or {}).get("price") if audit is not None else None
    try:
        return Decimal(str(raw)) if raw is not None else None
    except InvalidOperation:
        return None
