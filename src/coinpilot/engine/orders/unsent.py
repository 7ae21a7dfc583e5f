"""PENDING trades without an exchange id: look first, re-send only with a fresh approval.

A trade stays PENDING without an order id when its send's outcome is unknown (a timeout, a crash
between commit and ack). Re-sending it blindly is dangerous: if the first create never reached
the exchange, the re-send *creates* the order, at today's price, whatever happened since —
including a person's emergency stop. So, for each such trade:

1. look it up (Coinbase: the product's orders around the trade's creation, matched on the
   client_order_id; paper: its own book). Found: adopt it (PENDING -> OPEN with that id).
2. Not found: re-send it (same client_order_id) only if it is not marked "do not send" (a halt
   happened since), it is younger than the bound (default 30 s), and the approver — the safety
   check run again now, at today's prices, under the trading lock — allows it.
3. Otherwise it ends FAILED "not sent: …", and stays watched for ``ADOPT_WINDOW``: if its order
   turns up on the exchange after all, the trade is adopted and follows it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from coinpilot.domain.exchange_values import OrderAck, OrderRequest
from coinpilot.domain.types import TradeStatus
from coinpilot.engine.orders.sync_values import ADOPT_WINDOW, SyncReport, TradeView, backoff_delay, describe
from coinpilot.store.repos import trades as trade_repo

if TYPE_CHECKING:
    from coinpilot.engine.orders.sync import OrderSync

log = logging.getLogger(__name__)

WATCH_FIRST_SECONDS = 5.0


def resolve(sync: OrderSync, v: TradeView, report: SyncReport) -> TradeView | None:
    """Advance one trade without an order id; returns its view with the order id once known."""
    now = sync.clock.now()
    try:
        found = sync.exchange.find_order(v.pair, v.client_order_id, v.created_at or now)
    except Exception as exc:
        if v.status is TradeStatus.FAILED:
            _watch_later(sync, v, now)
        else:
            sync.note_error(v.id, f"order look-up failed: {describe(exc)}", report)
        return None
    if found is not None:
        return _adopt(sync, v, found.order_id, now)
    if v.status is TradeStatus.FAILED:
        _watch_later(sync, v, now)
        return None
    refused = _why_not_send(sync, v, now)
    if refused == _WAIT:
        sync.note_error(
            v.id, "not found on the exchange; waiting for a sync that can approve a re-send", report
        )
        return None
    if refused is not None:
        _give_up(sync, v, f"not sent: {refused}", now, report)
        return None
    request = OrderRequest(v.client_order_id, v.pair, v.side, v.quote_size, v.base_size)
    ack = sync.send(v.id, request, unknown="order re-send failed", report=report)
    return None if ack is None else replace(v, status=TradeStatus.OPEN, order_id=ack.order_id)


_WAIT = "wait"


def _why_not_send(sync: OrderSync, v: TradeView, now: datetime) -> str | None:
    if v.do_not_send:
        return "trading was halted before it was sent"
    age = (now - v.created_at).total_seconds() if v.created_at else float("inf")
    if age > sync.resend_max_age.total_seconds():
        return f"stale (created {age:.0f} s ago, the bound is {sync.resend_max_age.total_seconds():g} s)"
    if sync.approver is None:
        return _WAIT
    refused = sync.approver(v)
    return None if refused is None else f"refused on a fresh approval: {refused}"


def _give_up(sync: OrderSync, v: TradeView, reason: str, now: datetime, report: SyncReport) -> None:
    with sync.sessions() as s, s.begin():
        t = trade_repo.lock_trade(s, v.id, now)
        if t is None or t.status != TradeStatus.PENDING or t.order_id is not None:
            return
        trade_repo.give_up_unsent(t, reason, now, now + timedelta(seconds=WATCH_FIRST_SECONDS))
    log.warning("trade %s: %s", v.id, reason)
    report.failed += 1


def _adopt(sync: OrderSync, v: TradeView, order_id: str, now: datetime) -> TradeView | None:
    if v.status is TradeStatus.PENDING:
        sync.record_ack(v.id, OrderAck(order_id, v.client_order_id, v.pair, v.side))
        return replace(v, status=TradeStatus.OPEN, order_id=order_id)
    with sync.sessions() as s, s.begin():
        t = trade_repo.lock_trade(s, v.id, now)
        if t is None or t.status != TradeStatus.FAILED or t.order_id is not None:
            return None
        trade_repo.adopt_unsent(t, order_id, now)
        t.next_sync_at = now
    log.warning("trade %s: its order %s turned up on the exchange; adopted", v.id, order_id)
    return replace(v, status=TradeStatus.OPEN, order_id=order_id)


def _watch_later(sync: OrderSync, v: TradeView, now: datetime) -> None:
    """Not there (yet): look again later, until the watch window ends."""
    with sync.sessions() as s, s.begin():
        t = trade_repo.lock_trade(s, v.id, now)
        if t is None or t.status != TradeStatus.FAILED or t.order_id is not None:
            return
        t.sync_attempts += 1
        later = now + timedelta(seconds=max(WATCH_FIRST_SECONDS, backoff_delay(t.sync_attempts)))
        t.next_sync_at = later if later - t.created_at <= ADOPT_WINDOW else None
