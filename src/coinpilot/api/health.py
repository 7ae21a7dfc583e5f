"""Liveness and configuration facts a user checks first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends

from coinpilot import __version__
from coinpilot.api.deps import get_services
from coinpilot.services import Services
from coinpilot.store.db import describe_url

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the server up and the database reachable?")
def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    db_ok = True
    try:
        with services.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        db_ok = False
    return {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "mode": services.mode.value,
        "database": "ok" if db_ok else "unreachable",
        "database_url": describe_url(services.settings.resolved_database_url),
        "now": services.clock.now().isoformat(),
    }
