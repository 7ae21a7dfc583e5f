"""Periodic position-vs-holdings check: drift is reported on the bots and can pause them.

:func:`coinpilot.engine.orders.reconcile.position_drift` compares, per base currency, the sum of the
bots' positions with what the exchange says the account holds. This monitor runs it every
``interval_seconds`` (the engine's drift runner) and, for each currency whose shortfall exceeds
the tolerance, writes a warning to the log and to every affected bot's ``status_reason``;
with ``pause_on_drift`` it also PAUSEs those bots (their automatic exits keep running).

Only a *shortfall* (the exchange holds less than the bots think) is acted on: an account may
hold more coins than the bots bought (a person's own savings), which is reported in the log
only. Nothing is ever rewritten: a person decides what the difference means.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.engine.orders.reconcile import Drift, position_drift
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import session_scope
from coinpilot.store.models import Bot, Position
from coinpilot.store.repos import control as control_repo

log = logging.getLogger("coinpilot.engine")

DEFAULT_TOLERANCE = Decimal("0.01")  # 1% of the bots' position, or the absolute floor below
ABSOLUTE_FLOOR = Decimal("0.00000100")
DRIFT_PREFIX = "position drift:"


@dataclass(frozen=True)
class DriftFinding:
    drift: Drift
    bot_ids: tuple[int, ...]
    paused: bool


class DriftMonitor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        exchange: Exchange,
        clock: Clock,
        mode: TradingMode,
        *,
        tolerance: Decimal = DEFAULT_TOLERANCE,
        pause_on_drift: bool = False,
    ) -> None:
        self._sf = sessions
        self._exchange = exchange
        self._clock = clock
        self._mode = mode
        self.tolerance = tolerance
        self.pause_on_drift = pause_on_drift

    def check(self) -> list[DriftFinding]:
        findings: list[DriftFinding] = []
        for d in position_drift(self._sf, self._exchange, self._mode):
            allowed = max(d.positions * self.tolerance, ABSOLUTE_FLOOR)
            if d.drift > allowed:
                log.info("%s the account holds %s more than the bots (not acted on)", d.currency, d.drift)
                continue
            if -d.drift <= allowed:
                continue
            findings.append(self._report(d))
        return findings

    def _report(self, d: Drift) -> DriftFinding:
        now = self._clock.now()
        message = (
            f"{DRIFT_PREFIX} the bots' {d.currency} positions total {d.positions} but the "
            f"exchange holds {d.exchange} ({d.drift}); check the account before trading on"
        )[:500]
        log.warning(message)
        with session_scope(self._sf) as s:
            bots = list(
                s.scalars(
                    sa.select(Bot)
                    .join(Position, Position.bot_id == Bot.id)
                    .where(Position.mode == self._mode, Position.base_size > 0)
                    .where(Bot.pair.like(f"{d.currency}-%"))
                )
            )
            for bot in bots:
                bot.status_reason = message
                if self.pause_on_drift and bot.status == BotStatus.RUNNING:
                    bot.status = BotStatus.PAUSED
                bot.updated_at = now
            ids = tuple(b.id for b in bots)
            # An incident for risk escalation (and an entry in the audit trail).
            control_repo.record_event(
                s,
                at=now,
                action="position_drift",
                actor="drift_monitor",
                mode=self._mode,
                detail={**d.to_dict(), "bot_ids": list(ids), "paused": self.pause_on_drift},
            )
        return DriftFinding(d, ids, self.pause_on_drift)
