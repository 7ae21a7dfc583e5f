"""Start-up reconciliation and the position-vs-balance drift report.

``reconcile_all`` runs before the engine places any new order: every non-final trade of this
mode is brought up to date — by ``get_order`` when its order id is known, or, when the process
died between committing the trade and storing the ack, by looking the order up by its
client_order_id (adopted if found; re-sent with the *same* id only with a fresh approval while
young, else FAILED "not sent"; see :mod:`coinpilot.engine.orders.unsent`). Filled trades are settled
into their positions exactly once. Nothing is ever re-sent under a new id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.types import TradingMode
from coinpilot.engine.orders.sync import Approver, OrderSync, SyncReport
from coinpilot.exchange.base import Exchange
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo

log = logging.getLogger(__name__)


def reconcile_all(
    session_factory: sessionmaker[Session],
    exchange: Exchange,
    clock: Clock,
    mode: TradingMode,
    approver: Approver | None = None,
) -> SyncReport:
    """Bring every non-final trade of ``mode`` up to date now (ignores sync back-off).
    ``approver``: the fresh safety approval an unsent order needs to be re-sent (without one,
    a young unsent trade waits for the order sync)."""
    sync = OrderSync(session_factory, exchange, clock, mode, approver=approver)
    report = sync.sync_all()
    # A replayed order is acknowledged then looked up in the same pass; one more pass settles
    # anything that finished meanwhile.
    with session_factory() as s:
        left = trade_repo.non_final_ids(s, TradingMode(mode))
    if left:
        again = sync.sync_all()
        report.opened += again.opened
        report.settled += again.settled
        report.failed += again.failed
        report.closed += again.closed
        report.errors += again.errors
        report.waiting = again.waiting
    log.info("reconciliation: %s", report.to_dict())
    return report


@dataclass(frozen=True)
class Drift:
    currency: str
    positions: Decimal  # sum of the bots' positions in this mode
    exchange: Decimal  # available + hold on the exchange
    drift: Decimal  # exchange - positions (positive: the account holds more than the bots)

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "positions": format(self.positions, "f"),
            "exchange": format(self.exchange, "f"),
            "drift": format(self.drift, "f"),
        }


def position_drift(
    session_factory: sessionmaker[Session], exchange: Exchange, mode: TradingMode
) -> list[Drift]:
    """Compare the bots' summed positions per base currency with the exchange balance.

    Reports only; never rewrites a position (a person decides what the difference means).
    """
    totals: dict[str, Decimal] = {}
    with session_factory() as s:
        for p in position_repo.positions_for_mode(s, TradingMode(mode)):
            base = p.pair.split("-", 1)[0].upper()
            totals[base] = totals.get(base, Decimal(0)) + p.base_size
    balances = exchange.get_balances()
    out = []
    for cur in sorted(totals):
        bal = balances.get(cur)
        held = (bal.available + bal.hold) if bal else Decimal(0)
        out.append(Drift(cur, totals[cur], held, held - totals[cur]))
    return out
