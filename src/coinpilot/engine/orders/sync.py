"""Order sync: drive every non-final trade of this mode to a final status.

Polls fast at first, then backs off (0.25 s, 0.5 s, 1 s … capped at 10 s) per trade. Finished
orders get their fills recorded (from the exchange's fill list, never from a ticker) as the
exchange accounted them (``fill_accounting``: base sizes from the order's filled size, values and
fees as credited) and are settled into the position in the same transaction, a remainder below
the product's increment or minimum after an exit closing the cycle as dust. Exchange calls
happen outside any database transaction; every write (:mod:`coinpilot.engine.orders.sync_writes`) takes
the trade's lock first, so concurrent syncs apply a trade exactly once.

A trade still PENDING without an order id (its send's outcome is unknown) is never re-sent
blindly: :mod:`coinpilot.engine.orders.unsent` looks it up first and re-sends only with a fresh
approval, else it ends FAILED "not sent" (and is adopted if its order turns up later).

Each trade is handled in isolation: an unexpected error in one is recorded on it and the pass
goes on. A trade that cannot be finished within ``ATTENTION_AFTER_TRIES`` tries or
``ATTENTION_AFTER`` gets a needs-attention mark with its reason: it is still synced (slowly),
but no longer blocks its bot's protective exits, which sell only the settled position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.exchange_values import FillReport, OrderAck, OrderRequest, OrderSnapshot
from coinpilot.domain.trade_state import status_from_exchange
from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders import sync_writes as writes
from coinpilot.engine.orders import unsent
from coinpilot.engine.orders.settlement import SettlementError
from coinpilot.engine.orders.sync_values import (
    ADOPT_WINDOW,
    ATTENTION_AFTER,
    ATTENTION_AFTER_TRIES,
    BACKOFF_CAP_SECONDS,
    BACKOFF_START_SECONDS,
    DEFAULT_RESEND_MAX_AGE_SECONDS,
    AfterSettlement,
    Approver,
    SyncReport,
    TradeView,
    backoff_delay,
    describe,
)
from coinpilot.exchange.base import Exchange, ExchangeError, OrderRejected
from coinpilot.exchange.fill_accounting import account_fills
from coinpilot.store.models import Trade
from coinpilot.store.repos import trades as trade_repo
from coinpilot.telemetry import Telemetry

__all__ = [
    "ADOPT_WINDOW",
    "ATTENTION_AFTER",
    "ATTENTION_AFTER_TRIES",
    "BACKOFF_CAP_SECONDS",
    "BACKOFF_START_SECONDS",
    "AfterSettlement",
    "Approver",
    "OrderSync",
    "SyncReport",
    "TradeView",
    "backoff_delay",
    "describe",
]

log = logging.getLogger(__name__)


class OrderSync:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        exchange: Exchange,
        clock: Clock,
        mode: TradingMode,
        *,
        interval_seconds: float = 0.5,
        approver: Approver | None = None,
        resend_max_age_seconds: float = DEFAULT_RESEND_MAX_AGE_SECONDS,
        after_settlement: AfterSettlement | None = None,
    ) -> None:
        self._sf = session_factory
        self._exchange = exchange
        self._clock = clock
        self._mode = TradingMode(mode)
        self._interval = interval_seconds
        self.approver = approver
        self.resend_max_age = timedelta(seconds=resend_max_age_seconds)
        self.after_settlement = after_settlement
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.telemetry: Telemetry | None = None  # set by the composition root; metrics only
        self.last_pass_at: float | None = None  # monotonic time of the last finished pass

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def exchange(self) -> Exchange:
        return self._exchange

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sf

    # ---- background runner -------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`sync_once` every ``interval_seconds`` in a daemon thread."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="order-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
                self.last_pass_at = time.monotonic()
            except Exception:  # keep syncing: one bad pass must not stop the loop
                log.exception("order sync pass failed")
            self._stop.wait(self._interval)

    # ---- one pass ----------------------------------------------------------------------
    def sync_once(self) -> SyncReport:
        """Advance every trade whose ``next_sync_at`` is due (batched order look-up)."""
        now = self._clock.now()
        with self._sf() as s:
            ids = trade_repo.due_for_sync(s, self._mode, now)
            ids += trade_repo.unsent_watch_ids(s, self._mode, now, now - ADOPT_WINDOW)
            views = [self._view(s, i) for i in ids]
        return self._process([v for v in views if v is not None], batch=True)

    def sync_all(self) -> SyncReport:
        """Advance every non-final trade now, ignoring back-off (start-up reconciliation)."""
        with self._sf() as s:
            views = [self._view(s, i) for i in trade_repo.non_final_ids(s, self._mode)]
        return self._process([v for v in views if v is not None], batch=False)

    def sync_trade(self, trade_id: int) -> SyncReport:
        with self._sf() as s:
            view = self._view(s, trade_id)
        return self._process([view] if view else [], batch=False)

    @staticmethod
    def _view(s: Session, trade_id: int) -> TradeView | None:
        t = s.get(Trade, trade_id)
        if t is None:
            return None
        watched = (
            t.status == TradeStatus.FAILED and t.order_id is None and t.failure_code == trade_repo.NOT_SENT
        )
        if TradeStatus(t.status).is_final and not watched:
            return None
        return TradeView(
            t.id,
            TradeStatus(t.status),
            t.order_id,
            t.client_order_id,
            t.pair,
            Side(t.side),
            t.requested_quote_size,
            t.requested_base_size,
            t.bot_id,
            TradeIntent(t.intent),
            t.created_at,
            bool(t.do_not_send),
        )

    def _process(self, views: Sequence[TradeView], *, batch: bool) -> SyncReport:
        report = SyncReport(checked=len(views))
        with_ids: list[TradeView] = []
        for v in views:
            if v.order_id is None:
                found = self._isolated(v, report, partial(unsent.resolve, self, v, report))
                if isinstance(found, TradeView):
                    with_ids.append(found)
                continue
            with_ids.append(v)
        snapshots: dict[str, OrderSnapshot] = {}
        if batch and len(with_ids) > 1:
            try:
                got = self._exchange.get_orders([v.order_id for v in with_ids if v.order_id])
                snapshots = {o.order_id: o for o in got}
            except ExchangeError as exc:
                log.warning("batched order look-up failed, falling back: %s", exc.reason)
        for v in with_ids:
            self._isolated(v, report, partial(self._advance, v, snapshots.get(v.order_id or ""), report))
        if (report.settled or report.closed) and self.after_settlement is not None:
            try:
                self.after_settlement()
            except Exception:  # a breaker check must never stop the sync
                log.exception("the check after settlement failed")
        return report

    def _isolated(self, v: TradeView, report: SyncReport, step: Callable[[], object]) -> object:
        """Run one trade's step; an unexpected error is recorded on that trade only."""
        try:
            return step()
        except Exception as exc:
            log.exception("order sync: trade %s failed", v.id)
            try:
                self.note_error(v.id, f"unexpected error: {describe(exc)}", report)
            except Exception:
                log.exception("order sync: could not record the error of trade %s", v.id)
            return None

    def _advance(self, v: TradeView, snap: OrderSnapshot | None, report: SyncReport) -> None:
        assert v.order_id is not None
        if snap is None:
            try:
                snap = self._exchange.get_order(v.order_id)
            except Exception as exc:
                self.note_error(v.id, f"order look-up failed: {describe(exc)}", report)
                return
        self._apply_snapshot(v, snap, report)

    # ---- steps -------------------------------------------------------------------------
    def send(
        self, trade_id: int, request: OrderRequest, *, unknown: str, report: SyncReport | None = None
    ) -> OrderAck | None:
        """Place the order of a committed PENDING trade and record what became of it.

        The one place an order is sent, first time or replayed: ack -> OPEN; rejection -> FAILED;
        anything else leaves the trade PENDING with ``unknown`` + the error, to be replayed with
        the same client_order_id later.
        """
        if not self._may_send(trade_id):
            self.note_error(trade_id, "not sent: trading was halted; looking it up instead", report)
            return None
        started = time.perf_counter()
        try:
            ack = self._exchange.place_market_order(request)
        except OrderRejected as exc:
            if self.record_rejection(trade_id, exc) and report is not None:
                report.failed += 1
            return None
        except Exception as exc:  # outcome unknown: keep PENDING; sync/reconcile replays the id
            message = f"{unknown}: {describe(exc)}"
            log.warning(
                "order %s: %s",
                request.client_order_id,
                message,
                extra={"trade": trade_id, "client_order_id": request.client_order_id},
            )
            self.note_error(trade_id, message, report)
            return None
        self.record_ack(trade_id, ack)
        if self.telemetry is not None:
            self.telemetry.order_acknowledged(
                self._mode.value, request.side.value, time.perf_counter() - started
            )
        if report is not None:
            report.opened += 1
        return ack

    def _may_send(self, trade_id: int) -> bool:
        """False once a halt marked the trade "do not send" (checked right before every send)."""
        return writes.may_send(self._sf, trade_id)

    def record_ack(self, trade_id: int, ack: OrderAck) -> None:
        """PENDING -> OPEN with the exchange's order id (no-op if already further along)."""
        writes.record_ack(self._sf, self._clock.now(), trade_id, ack)

    def record_rejection(self, trade_id: int, exc: OrderRejected) -> bool:
        """PENDING -> FAILED with the exchange's code and a readable reason."""
        return writes.record_rejection(self._sf, self._clock.now(), trade_id, exc)

    def note_error(self, trade_id: int, message: str, report: SyncReport | None) -> None:
        now = self._clock.now()
        if report is not None:
            report.errors.append(f"trade {trade_id}: {message}")
        writes.record_error(self._sf, now, trade_id, message)

    def _dust_below(self, pair: str) -> Decimal | None:
        """The size below which a remainder is dust: the product's increment or minimum."""
        return _product_dust_threshold(self._exchange, pair)

    def _apply_snapshot(self, v: TradeView, snap: OrderSnapshot, report: SyncReport) -> None:
        target = status_from_exchange(str(snap.status), snap.filled_base)
        if target == TradeStatus.OPEN and v.status != TradeStatus.FILLED:
            self._still_open(v.id)
            report.waiting += 1
            return
        if v.status == TradeStatus.FILLED:
            target = TradeStatus.FILLED  # recorded as filled before: only settlement is left
        fills: list[FillReport] = []
        if snap.filled_base > 0 or target == TradeStatus.FILLED:
            try:
                fills = [f for f in self._exchange.get_fills(snap.order_id)]
            except Exception as exc:
                self.note_error(v.id, f"fill look-up failed: {describe(exc)}", report)
                return
        self._finish(v.id, target, snap, fills, report, pair=v.pair)

    def _still_open(self, trade_id: int) -> None:
        writes.record_still_open(self._sf, self._clock.now(), trade_id)

    def _finish(
        self,
        trade_id: int,
        target: TradeStatus,
        snap: OrderSnapshot,
        fills: list[FillReport],
        report: SyncReport,
        *,
        pair: str,
    ) -> None:
        now = self._clock.now()
        accounted = account_fills(snap, fills)
        if accounted is None or (target == TradeStatus.FILLED and not accounted):
            # The fill list lags the order status: wait rather than settle on partial data.
            self.note_error(trade_id, "waiting for the exchange to report all fills", None)
            report.waiting += 1
            return
        dust_below = self._dust_below(pair) if accounted else Decimal(0)
        if dust_below is None:
            self.note_error(trade_id, f"product {pair} unavailable: cannot tell dust from size", report)
            return
        try:
            filled_after = writes.record_outcome(
                self._sf, now, trade_id, target, snap, accounted, dust_below, report
            )
        except SettlementError as exc:
            log.error("settlement failed: %s", exc, extra={"trade": trade_id})
            self.note_error(trade_id, f"settlement failed: {exc}", report)
            return
        if filled_after is not None and self.telemetry is not None:
            self.telemetry.order_filled(self._mode.value, *filled_after)


def _product_dust_threshold(exchange: Exchange, pair: str) -> Decimal | None:
    try:
        product = exchange.get_product(pair)
    except Exception as exc:
        log.warning("product %s unavailable for settlement: %s", pair, describe(exc))
        return None
    return max(product.base_increment, product.base_min_size)
