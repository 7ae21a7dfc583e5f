"""The engine threads one server process runs: start-up reconciliation, order sync, bot loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

from coinpilot.engine.runner import PeriodicRunner
from coinpilot.engine.scheduler import EvaluationScheduler
from coinpilot.services import Services

log = logging.getLogger("coinpilot.engine")


def start_engine(services: Services) -> Callable[[], None]:
    settings = services.settings
    # Before any new order: bring every unfinished trade of this mode up to date.
    from coinpilot.engine.reconcile import reconcile_all

    reconcile_all(services.sessions, services.exchange, services.clock, services.mode)
    services.sync.start()
    scheduler = EvaluationScheduler(services.evaluations, settings.engine_interval_seconds)
    runners = [
        PeriodicRunner("bot-scheduler", scheduler.run_once, min(1.0, settings.engine_interval_seconds))
    ]
    for r in runners:
        r.start()
    log.info("engine started (%s mode)", services.mode.value)

    def stop() -> None:
        for r in runners:
            r.stop()
        services.sync.stop()

    return stop
