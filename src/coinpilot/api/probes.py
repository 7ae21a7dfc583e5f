"""``/health`` (the process answers), ``/ready`` (safe to rely on) and the recent log lines.

``/ready`` answers 503 naming every failing part, so a load balancer, systemd or a person sees
at once *what* is wrong: the database, its schema revision, start-up reconciliation, the
exchange, or order sync falling behind. GET only; nothing here changes state.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Annotated, Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from coinpilot import __version__
from coinpilot.api.deps import get_services
from coinpilot.api.metrics import sync_lag_seconds, trading_state_label
from coinpilot.domain.types import TradingMode
from coinpilot.logs import recent_lines
from coinpilot.services import Services
from coinpilot.store.migrate import head_revision

router = APIRouter(tags=["monitoring"])
logs_router = APIRouter(tags=["monitoring"])


@lru_cache(maxsize=1)
def _head() -> str | None:
    return head_revision()


@router.get("/health", summary="Is the process up? (no dependencies checked)")
def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "mode": services.mode.value}


def readiness(services: Services) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}

    def put(name: str, ok: bool, detail: str) -> None:
        checks[name] = {"ok": ok, "detail": detail}

    try:
        with services.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
        put("database", True, "reachable")
        head = _head()
        put(
            "migrations",
            revision == head,
            f"at {revision}" if revision == head else f"at {revision}, expected {head}: coinpilot db upgrade",
        )
    except Exception as exc:
        put("database", False, f"unreachable: {type(exc).__name__}")
        put("migrations", False, "unknown: the database is unreachable")
    put(
        "reconciliation",
        services.reconciled,
        "finished"
        if services.reconciled
        else (services.reconciling or "start-up reconciliation has not finished"),
    )
    if services.mode == TradingMode.PRODUCTION:
        reachable, why = services.telemetry.exchange_health()
        put("exchange", reachable, ("reachable: " if reachable else "unreachable: ") + why)
    else:
        put("exchange", True, "paper exchange (mock mode)")
    if checks["database"]["ok"]:
        with services.sessions() as s:
            lag = sync_lag_seconds(services, s, services.clock.now())
        limit = services.settings.sync_lag_limit_seconds
        running = services.sync.running or not services.reconciled
        ok = lag <= limit and running
        detail = f"lag {lag:.1f} s (limit {limit:g} s)"
        put("order_sync", ok, detail if running else f"order sync is not running; {detail}")
    else:
        put("order_sync", False, "unknown: the database is unreachable")
    return checks


@router.get("/ready", summary="Ready to trade? 503 naming the failing parts when not")
def ready(services: Services = Depends(get_services)) -> JSONResponse:
    checks = readiness(services)
    failing = [name for name, c in checks.items() if not c["ok"]]
    body: dict[str, Any] = {
        "ready": not failing,
        "failing": failing,
        "checks": checks,
        "mode": services.mode.value,
    }
    if checks["database"]["ok"]:
        try:  # named so "ready" is never mistaken for "trading": a halted system is still ready
            body["trading_state"] = trading_state_label(services.control.state())
        except Exception:
            body["trading_state"] = "unknown"
    return JSONResponse(body, status_code=200 if not failing else 503)


@logs_router.get("/logs", summary="The last log lines of this process (secrets redacted)")
def logs(
    lines: Annotated[int, Query(ge=1, le=1000, description="how many lines, newest last")] = 200,
    level: Annotated[
        str, Query(pattern="^(DEBUG|INFO|WARNING|ERROR)$", description="minimum level")
    ] = "INFO",
) -> dict[str, Any]:
    buffer = recent_lines()
    if buffer is None:
        return {"lines": [], "note": "logging is not configured in this process"}
    return {"lines": buffer.lines(lines, logging.getLevelName(level))}
