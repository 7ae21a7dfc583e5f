"""The engine threads one process runs: start-up reconciliation, order sync, the bot loop,
the lease heartbeat (PostgreSQL) and the periodic position-drift check.

Order of start-up matters: every unfinished trade is reconciled with the exchange *before* the
bot loop can place a new order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coinpilot.alerts.watch import AlertWatcher
from coinpilot.domain.clock import SystemClock
from coinpilot.engine.audit import record_limits_if_changed
from coinpilot.engine.bot_loop import TradingStep
from coinpilot.engine.breaker import CircuitBreaker
from coinpilot.engine.drift import DriftMonitor
from coinpilot.engine.leases import LeaseManager
from coinpilot.engine.runner import PeriodicRunner
from coinpilot.engine.scheduler import EvaluationScheduler
from coinpilot.engine.shutdown import DrainingTradingStep, drain_in_flight
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

    def cycle(self) -> None:
        started = time.perf_counter()
        self.scheduler.run_once()
        protecting = time.perf_counter()
        self.scheduler.protect_paused()
        if self.telemetry is not None:
            done = time.perf_counter()
            self.telemetry.engine_cycle.observe(protecting - started)
            self.telemetry.protection_pass.observe(done - protecting)


def build_engine(services: Services, *, leases: LeaseManager | None = None) -> EngineHandle:
    settings = services.settings

    def trip(reason: str) -> None:
        services.control.engage_emergency(actor="circuit_breaker", reason=reason)

    breaker = CircuitBreaker(trip, SystemClock())
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
    return EngineHandle(scheduler, trading, breaker, drift, leases, telemetry=services.telemetry)


def start_engine(services: Services, *, worker_id: str | None = None) -> Callable[[], None]:
    settings = services.settings
    # Before any new order: bring every unfinished trade of this mode up to date.
    from coinpilot.engine.reconcile import reconcile_all

    report = reconcile_all(services.sessions, services.exchange, services.clock, services.mode)
    record_limits_if_changed(services.sessions, services.clock, services.mode, settings.safety_limits)
    watcher = build_watcher(services)
    if watcher is not None:
        watcher.check()  # marks where history ends: only what happens from now on is news
        watcher.reconciliation(report)
    services.reconciled = True
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
        handle.runners.append(PeriodicRunner("alerts", watcher.check, settings.alerts.check_interval_seconds))
    for r in handle.runners:
        r.start()
    log.info("engine started (%s mode, every %g s)", services.mode.value, settings.engine_interval_seconds)

    def stop() -> None:
        """Graceful shutdown: no new entries from now on; protections and order sync keep
        running while in-flight orders finish (bounded), then everything stops in order."""
        assert isinstance(handle.trading, DrainingTradingStep)
        handle.trading.drain()
        left = drain_in_flight(services, settings.shutdown_grace_seconds)
        for r in handle.runners:
            r.stop()
        services.sync.stop()
        services.sync.sync_once()  # book what finished since the last pass
        if leases is not None:
            leases.stop(release=True)
        log.info("engine stopped (%d order(s) still unfinished; reconciled at next start)", left)

    return stop
