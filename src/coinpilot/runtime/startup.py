"""Start-up reconciliation in the background, with trading held until it has finished.

Every unfinished trade must be brought up to date with the exchange before a new order is sent.
That used to happen before the server answered anything, so a hanging exchange left the API and
dashboard dark for as long as the exchange took. Now the server answers at once: the engine
says "reconciling n trades", TradeService refuses new orders (audited, nothing sent) and the
order sync and bot loop start only when reconciliation has finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from coinpilot.engine.orders.reconcile import reconcile_all
from coinpilot.engine.orders.sync import SyncReport
from coinpilot.services import Services
from coinpilot.store.repos import trades as trade_repo

log = logging.getLogger("coinpilot.engine")

RECONCILIATION_REPORT = "reconciliation_report"  # Services.extras key: the start-up SyncReport


class BackgroundReconciliation:
    """Runs :func:`reconcile_all` in a thread, then ``then`` (unless cancelled first)."""

    def __init__(self, services: Services, then: Callable[[], None]) -> None:
        self._services = services
        self._then = then
        self._lock = threading.Lock()
        self._cancelled = False
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundReconciliation:
        svc = self._services
        with svc.sessions() as s:
            count = len(trade_repo.non_final_ids(s, svc.mode))
        if count == 0:  # nothing to wait for: no exchange call, trading is not held at all
            self._run()
            return self
        message = (
            f"reconciling {count} trade{'' if count == 1 else 's'} with the exchange; "
            "trading is held until that has finished"
        )
        svc.reconciled = False
        svc.reconciling = message
        svc.trades.hold(message)
        log.info("start-up: %s", message)
        self._thread = threading.Thread(target=self._run, name="start-up-reconciliation", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        svc = self._services
        try:
            report = reconcile_all(svc.sessions, svc.exchange, svc.clock, svc.mode, svc.trades.fresh_approval)
            svc.extras[RECONCILIATION_REPORT] = report  # read by the alerts (anything unexpected?)
        except Exception as exc:  # the order sync keeps trying every unfinished trade afterwards
            log.exception("start-up reconciliation failed; the order sync keeps trying")
            svc.extras[RECONCILIATION_REPORT] = SyncReport(errors=[f"reconciliation failed: {exc!r}"[:300]])
        with self._lock:
            if self._cancelled:
                return
            svc.reconciled = True
            svc.reconciling = None
            svc.trades.release()
            log.info("start-up reconciliation finished: trading resumed")
            self._then()

    @property
    def finished(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def cancel(self, timeout: float = 5.0) -> bool:
        """Stop waiting; returns True when ``then`` ran (so what it started must be stopped)."""
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._cancelled = True
            return self._services.reconciled
