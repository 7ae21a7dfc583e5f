"""The database writes of order sync: what an order's answer does to its trade row.

:class:`coinpilot.engine.orders.sync.OrderSync` decides *when* to look at the exchange; these functions
record what it found. Each runs in its own transaction and takes the trade's lock first, so
concurrent syncs apply a trade exactly once. They live apart from the sync loop so that the loop
(exchange calls, outside any transaction) and the row changes can each be read on their own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.exchange_values import FillReport, OrderAck, OrderSnapshot
from coinpilot.domain.types import Side, TradeStatus
from coinpilot.engine.orders.settlement import settle_trade
from coinpilot.engine.orders.sync_values import (
    ATTENTION_AFTER,
    ATTENTION_AFTER_TRIES,
    ATTENTION_POLL_SECONDS,
    SyncReport,
    backoff_delay,
)
from coinpilot.exchange.base import OrderRejected
from coinpilot.store.models import Trade
from coinpilot.store.repos import trades as trade_repo

log = logging.getLogger("coinpilot.engine.orders.sync")  # the sync's own logger, as before the split

ENDED_EARLY = {
    TradeStatus.FAILED: "failed",
    TradeStatus.EXPIRED: "expired",
    TradeStatus.CANCELLED: "was cancelled",
}


def may_send(sf: sessionmaker[Session], trade_id: int) -> bool:
    """False once a halt marked the trade "do not send" (checked right before every send)."""
    with sf() as s:
        return not s.scalar(sa.select(Trade.do_not_send).where(Trade.id == trade_id))


def record_ack(sf: sessionmaker[Session], now: datetime, trade_id: int, ack: OrderAck) -> None:
    """PENDING -> OPEN with the exchange's order id (no-op if already further along)."""
    next_sync_at = now + timedelta(seconds=backoff_delay(0))
    with sf() as s, s.begin():  # the usual case: a PENDING trade without an order id
        if trade_repo.mark_acknowledged(s, trade_id, ack.order_id, now, next_sync_at):
            return
    with sf() as s, s.begin():
        t = trade_repo.lock_trade(s, trade_id, now)
        if t is None:
            return
        if t.order_id is None:
            t.order_id = ack.order_id
        elif t.order_id != ack.order_id:
            t.last_error = f"exchange returned order {ack.order_id}, expected {t.order_id}"
            return
        if t.submitted_at is None:
            t.submitted_at = now
        if t.status == TradeStatus.PENDING:
            trade_repo.set_status(t, TradeStatus.OPEN, now, f"acknowledged: {ack.order_id}")
        t.last_error = None
        t.sync_attempts = 0
        t.next_sync_at = next_sync_at
        t.updated_at = now


def record_rejection(sf: sessionmaker[Session], now: datetime, trade_id: int, exc: OrderRejected) -> bool:
    """PENDING -> FAILED with the exchange's code and a readable reason."""
    with sf() as s, s.begin():
        t = trade_repo.lock_trade(s, trade_id, now)
        if t is None or t.status != TradeStatus.PENDING:
            return False
        t.failure_code = exc.code[:64]
        t.failure_reason = f"order rejected by the exchange: {exc.reason}"[:1000]
        t.last_error = None
        t.next_sync_at = None
        if t.submitted_at is None:
            t.submitted_at = now
        trade_repo.set_status(t, TradeStatus.FAILED, now, exc.code)
        return True


def record_error(sf: sessionmaker[Session], now: datetime, trade_id: int, message: str) -> None:
    """Note the error on a non-final trade, back its next look-up off, and mark it if stuck."""
    with sf() as s, s.begin():
        t = trade_repo.lock_trade(s, trade_id, now)
        if t is None or TradeStatus(t.status).is_final:
            return
        schedule(t, now)
        t.last_error = message[:1000]
        attention_if_stuck(t, message, now)


def attention_if_stuck(t: Trade, message: str, now: datetime) -> None:
    """Past its bounds, a trade is marked for a person (once) and polled slowly."""
    since = t.submitted_at or t.created_at
    stuck = t.sync_attempts >= ATTENTION_AFTER_TRIES or (since is not None and now - since >= ATTENTION_AFTER)
    if not stuck:
        return
    if t.attention_reason is None:
        t.attention_reason = (
            f"could not finish after {t.sync_attempts} tries since {since:%Y-%m-%d %H:%M:%S} UTC: {message}"
        )[:1000]
        t.attention_at = now
        log.error("trade %s needs attention: %s", t.id, t.attention_reason)
    t.next_sync_at = now + timedelta(seconds=ATTENTION_POLL_SECONDS)


def schedule(t: Trade, now: datetime) -> None:
    t.next_sync_at = now + timedelta(seconds=backoff_delay(t.sync_attempts))
    t.sync_attempts = t.sync_attempts + 1
    t.updated_at = now


def record_still_open(sf: sessionmaker[Session], now: datetime, trade_id: int) -> None:
    with sf() as s, s.begin():
        t = trade_repo.lock_trade(s, trade_id, now)
        if t is None or TradeStatus(t.status).is_final:
            return
        if t.status == TradeStatus.PENDING:
            trade_repo.set_status(t, TradeStatus.OPEN, now, "order found on the exchange")
        schedule(t, now)


def record_outcome(
    sf: sessionmaker[Session],
    now: datetime,
    trade_id: int,
    target: TradeStatus,
    snap: OrderSnapshot,
    accounted: list[FillReport],
    dust_below: Decimal,
    report: SyncReport,
) -> tuple[str, float] | None:
    """Record the fills and final status and settle the trade, in one transaction.

    Returns (side, seconds from creation) when fills were recorded, for the fill-time metric.
    Raises :class:`~coinpilot.engine.orders.settlement.SettlementError` when settlement fails.
    """
    filled_after: tuple[str, float] | None = None
    with sf() as s, s.begin():
        t = trade_repo.lock_trade(s, trade_id, now)
        if t is None or t.position_applied or TradeStatus(t.status).is_final:
            return None
        if accounted:
            filled_after = (Side(t.side).value, (now - t.created_at).total_seconds())
        trade_repo.record_fills(t, accounted)
        s.flush()
        trade_repo.aggregate_from_fills(t)
        if target in ENDED_EARLY:
            # Every FAILED / EXPIRED / CANCELLED trade says why, in the exchange's words.
            t.failure_code = f"ORDER_{target.value.upper()}"
            t.failure_reason = (
                f"the exchange reports the order {ENDED_EARLY[target]}: "
                f"{snap.reject_reason or 'no reason given'}"
                + (f" (filled {snap.filled_base} of it)" if snap.filled_base > 0 else "")
            )[:1000]
        trade_repo.set_status(t, target, now, f"exchange status {snap.status}")
        t.last_error = None
        t.next_sync_at = None
        if t.fills:
            settle_trade(s, t, now, dust_below)
            if t.status == TradeStatus.SETTLED:
                report.settled += 1
            else:
                report.closed += 1
        elif target == TradeStatus.FAILED:
            report.failed += 1
        else:
            report.closed += 1
    return filled_after
