"""Apply a finished trade's fills to its bot's position, exactly once.

Runs inside the transaction that holds the trade's lock (see ``trades.lock_trade``) and the
position row lock, and flips ``position_applied`` in that same transaction: a second run, or a
concurrent sync, finds the flag set and does nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.position import apply_entry, apply_exit
from coinpilot.domain.trade_facts import realised_at
from coinpilot.domain.types import Side, TradeStatus
from coinpilot.store.models import Bot, Trade
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo


class SettlementError(Exception):
    """The fills cannot be applied (e.g. an exit sells more than the position holds)."""


def settle_trade(session: Session, trade: Trade, now: datetime, dust_below: Decimal = Decimal(0)) -> bool:
    """Apply ``trade``'s recorded fills to the position; FILLED becomes SETTLED.

    ``dust_below``: the product's larger of base increment and minimum size; an exit leaving
    less than that closes the cycle and records the remainder as dust.
    Returns True when the position changed. Idempotent: does nothing once applied.
    """
    if trade.position_applied:
        return False
    fills = sorted(trade.fills, key=lambda f: (f.time, f.fill_id))
    if not fills:
        trade.position_applied = True
        if trade.status == TradeStatus.FILLED:
            trade_repo.set_status(trade, TradeStatus.SETTLED, now, "no fills to apply")
        return False
    max_tranches = session.scalar(sa.select(Bot.max_tranches).where(Bot.id == trade.bot_id))
    if max_tranches is None:
        max_tranches = 3
    pos = position_repo.get_position(session, trade.bot_id, trade.mode, for_update=True)
    if pos is None:
        pos = position_repo.ensure_position(session, trade.bot_id, trade.pair, trade.mode, now)
    state = position_repo.to_state(pos)
    try:
        if trade.side == Side.BUY:
            at = trade.filled_at or fills[-1].time
            new_state = apply_entry(state, fills, trade.id, at)
        else:
            new_state, realised = apply_exit(state, fills, dust_below)
            trade.realized_pnl = realised
            # Dated by the fill (the sale happened then), not by when it was settled.
            trade.realized_at = realised_at(fills[-1].time, now)
    except ValueError as exc:
        raise SettlementError(f"trade {trade.id}: {exc}") from exc
    position_repo.write_state(pos, new_state, now=now, max_tranches=max_tranches)
    trade.position_applied = True
    if trade.status == TradeStatus.FILLED:
        trade_repo.set_status(trade, TradeStatus.SETTLED, now, "position updated")
    elif trade.closed_at is None:
        trade.closed_at = now
    trade.updated_at = now
    return True
