"""Graceful shutdown (SIGTERM): stop opening positions at once, keep protecting the open ones,
let orders already sent finish their bookkeeping, then stop, all within a bounded time.

Why in this order: a stop-loss that is due while the process drains must still go out (the
position does not stop moving because we are restarting), while a new entry started now could be
left half-booked by the exit. Orders already on the exchange are not cancelled: order sync keeps
recording their fills until the grace period ends, and whatever is still unfinished then is
reconciled by the next start, exactly like after a crash, so nothing is lost or sent twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from coinpilot.domain.types import Side
from coinpilot.engine.loop.bot_loop import BotView, OrderPlan, Signal, StepOutcome, TradingStep
from coinpilot.store.repos import trades as trade_repo

if TYPE_CHECKING:
    from coinpilot.services import Services

log = logging.getLogger("coinpilot.engine")

POLL_SECONDS = 0.1


class DrainingTradingStep(TradingStep):
    """The engine's trading step with a shutdown switch: once draining, buys are no longer
    executed; sells (stop-loss, trailing stop, take-profit, signal exits) still are."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._draining = threading.Event()

    def drain(self) -> None:
        self._draining.set()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def execute(self, view: BotView, plan: OrderPlan, signal: Signal | None, started: float) -> StepOutcome:
        if self._draining.is_set() and plan.side == Side.BUY:
            outcome = StepOutcome(view.bot_id, plan, None, "shutting down: no new entries")
            self._remember(outcome)
            return outcome
        return super().execute(view, plan, signal, started)


def unfinished_trades(services: Services) -> int:
    with services.sessions() as s:
        return len(trade_repo.non_final_ids(s, services.mode))


def drain_in_flight(services: Services, grace_seconds: float, *, poll: float = POLL_SECONDS) -> int:
    """Wait up to ``grace_seconds`` (wall time) for this mode's unfinished trades to become final
    while order sync and protections keep running; returns how many are still unfinished."""
    deadline = time.monotonic() + grace_seconds
    left = unfinished_trades(services)
    while left and time.monotonic() < deadline:
        time.sleep(poll)
        left = unfinished_trades(services)
    if left:
        log.warning(
            "shutdown: %d order(s) unfinished after %.0f s; the next start reconciles them",
            left,
            grace_seconds,
        )
    return left
