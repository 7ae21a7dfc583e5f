"""The engine threads one process runs: start-up reconciliation, order sync, the bot loop,
the lease heartbeat (PostgreSQL) and the periodic position-drift check.

Order of start-up matters: every unfinished trade is reconciled with the exchange *before* the
bot loop can place a new order. Reconciliation runs in the background (see ``startup``) so the
server answers at once; trading is held until it has finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coinpilot.alerts.watch import AlertWatcher
from coinpilot.domain.clock import SystemClock
from coinpilot.domain.trading_state import EXCHANGE_BREAKER
from coinpilot.engine.audit import record_limits_if_changed
from coinpilot.engine.cluster.leases import LeaseManager
from coinpilot.engine.loop.bot_loop import TradingStep
from coinpilot.engine.loop.runner import PeriodicRunner
from coinpilot.engine.loop.scheduler import EvaluationScheduler
from coinpilot.engine.risk.breaker import CircuitBreaker
from coinpilot.engine.risk.drift import DriftMonitor
from coinpilot.engine.risk.loss_breaker import DailyLossBreaker
from coinpilot.runtime.shutdown import DrainingTradingStep, drain_in_flight
from coinpilot.runtime.startup import RECONCILIATION_REPORT, BackgroundReconciliation
from coinpilot.services import Services
from coinpilot.telemetry import Telemetry

log = logging.getLogger("coinpilot.engine")

DRIFT_INTERVAL_SECONDS = 300.0
ESCALATION_INTERVAL_SECONDS = 15.0  # an incident drops the escalation step within this long


def build_watcher(services: Services) -> AlertWatcher | None:
    """The alert watcher, when alerts are configured (its dispatcher thread starts here)."""
    if services.alerts is None:
        return None
    cfg = services.settings.alerts
    exchange = services.exchange

    def probe() -> None:  # one cheap, read-only call
        exchange.get_balances(["USD"])

    return AlertWatcher(
        services.sessions,
        services.clock,
        services.mode,
        services.alerts.start(),
        daily_loss_limit=services.settings.safety_limits.daily_loss_limit_usd,
        probe=probe,
        unreachable_minutes=cfg.exchange_unreachable_minutes,
        attention_minutes=cfg.trade_attention_minutes,
    )


@dataclass
class EngineHandle:
    """What :func:`build_engine` wires together (tests and the worker command use it)."""

    scheduler: EvaluationScheduler
    trading: TradingStep
    breaker: CircuitBreaker
    drift: DriftMonitor
    leases: LeaseManager | None
    runners: list[PeriodicRunner] = field(default_factory=list)
    telemetry: Telemetry | None = None
    loss_breaker: DailyLossBreaker | None = None

    def cycle(self) -> None:
        started = time.perf_counter()
        report = self.scheduler.run_cycle(self.scheduler.due_bot_ids())
        protecting = time.perf_counter()
        # the protection pass for every bot holding a position, whatever its status
        self.scheduler.protect(skip=report.evaluated_ids, quotes=report.quotes)
        if self.loss_breaker is not None:
            self.loss_breaker.check_quietly()  # every tick: realised today + unrealised at the bid
        if self.telemetry is not None:
            done = time.perf_counter()
            self.telemetry.engine_cycle.observe(protecting - started)
            self.telemetry.protection_pass.observe(done - protecting)


def build_engine(services: Services, *, leases: LeaseManager | None = None) -> EngineHandle:
    settings = services.settings

    def trip(reason: str) -> None:
        services.control.breaker_trip(EXCHANGE_BREAKER, reason)

    def recover(reason: str) -> None:
        services.control.breaker_recover(EXCHANGE_BREAKER, reason)

    breaker = CircuitBreaker(
        trip,
        SystemClock(),
        recover=recover,
        recover_after_seconds=settings.exchange_breaker_recover_seconds,
    )
    trading = DrainingTradingStep(
        services.sessions,
        services.trades,
        services.clock,
        on_exchange_error=breaker.record_failure,
        may_trade=leases.holds if leases is not None else None,
    )
    scheduler = EvaluationScheduler(
        services.evaluations,
        settings.engine_interval_seconds,
        bot_filter=leases.filter if leases is not None else None,
        market=services.market,
        trading=trading,
        breaker=breaker,
        mode=services.mode,
        retention=settings.evaluation_retention,
    )
    drift = DriftMonitor(services.sessions, services.exchange, services.clock, services.mode)
    return EngineHandle(
        scheduler,
        trading,
        breaker,
        drift,
        leases,
        telemetry=services.telemetry,
        loss_breaker=services.loss_breaker,
    )


def start_engine(services: Services, *, worker_id: str | None = None) -> Callable[[], None]:
    """Start at once: reconciliation runs in the background (trading held), and the order sync,
    leases and bot loop start when it has finished: before any new order, every unfinished trade
    of this mode is brought up to date."""
    settings = services.settings
    started: list[EngineHandle] = []

    def launch() -> None:
        record_limits_if_changed(services.sessions, services.clock, services.mode, settings.safety_limits)
        watcher = build_watcher(services)
        if watcher is not None:
            watcher.check()  # marks where history ends: only what happens from now on is news
            report = services.extras.get(RECONCILIATION_REPORT)
            if report is not None:
                watcher.reconciliation(report)
        services.sync.start()
        leases = None
        if services.engine.dialect.name == "postgresql":
            leases = LeaseManager(services.engine, worker_id).start()
            log.info("worker %s: sharing bots through leases (ttl %.1f s)", leases.worker_id, leases.ttl)
        handle = build_engine(services, leases=leases)
        tick = min(1.0, settings.engine_interval_seconds)
        handle.runners.append(PeriodicRunner("bot-scheduler", handle.cycle, tick))
        handle.runners.append(PeriodicRunner("position-drift", handle.drift.check, DRIFT_INTERVAL_SECONDS))
        if services.escalation is not None and services.escalation.escalated:
            handle.runners.append(
                PeriodicRunner(
                    "risk-escalation", services.escalation.check_incidents, ESCALATION_INTERVAL_SECONDS
                )
            )
        if watcher is not None:
            handle.runners.append(
                PeriodicRunner("alerts", watcher.check, settings.alerts.check_interval_seconds)
            )
        for r in handle.runners:
            r.start()
        started.append(handle)
        log.info(
            "engine started (%s mode, every %g s)", services.mode.value, settings.engine_interval_seconds
        )

    reconciliation = BackgroundReconciliation(services, launch).start()

    def stop() -> None:
        """Graceful shutdown: no new entries from now on; protections and order sync keep
        running while in-flight orders finish (bounded), then everything stops in order."""
        if not reconciliation.cancel(timeout=settings.shutdown_grace_seconds) or not started:
            log.info("engine stopped before start-up reconciliation finished")
            return
        handle = started[0]
        assert isinstance(handle.trading, DrainingTradingStep)
        handle.trading.drain()
        left = drain_in_flight(services, settings.shutdown_grace_seconds)
        for r in handle.runners:
            r.stop()
        services.sync.stop()
        services.sync.sync_once()  # book what finished since the last pass
        if handle.leases is not None:
            handle.leases.stop(release=True)
        log.info("engine stopped (%d order(s) still unfinished; reconciled at next start)", left)

    return stop
