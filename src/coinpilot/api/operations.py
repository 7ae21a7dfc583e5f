"""Audit trail, gradual risk escalation and API token names: what an unattended run needs a
person to see and approve.

GET endpoints change nothing; approving the next escalation step needs the bearer token, and the
token's name is recorded as who approved it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from coinpilot.api.deps import get_services, require_token
from coinpilot.domain.escalation import EscalationRefused
from coinpilot.domain.types import TradingMode
from coinpilot.services import Services
from coinpilot.store.db import read_session
from coinpilot.store.repos import audit_trail
from coinpilot.store.repos.tokens import list_tokens

router = APIRouter(tags=["operations"])
CSV_MAX_ROWS = 10_000


def _utc(value: datetime | None) -> datetime | None:
    """Times in queries are UTC; a time without an offset is read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditFilters:
    def __init__(
        self,
        source: Literal["changes", "refusals"] = Query(
            default="changes", description="changes (who changed what) or refusals (safety refusals)"
        ),
        actor: str | None = Query(default=None, max_length=64, description="token name, cli, system…"),
        action: str | None = Query(default=None, max_length=64, description="e.g. bot_updated"),
        bot_id: int | None = Query(default=None, ge=1),
        mode: TradingMode | None = Query(default=None),
        since: datetime | None = Query(default=None, description="ISO time, UTC if no offset"),
        until: datetime | None = Query(default=None, description="ISO time, UTC if no offset"),
    ) -> None:
        self.values: dict[str, Any] = {
            "source": source,
            "actor": actor,
            "action": action,
            "bot_id": bot_id,
            "mode": mode,
            "since": _utc(since),
            "until": _utc(until),
        }


@router.get("/audit", summary="The audit trail: who changed what and when (newest first, paged)")
def audit(
    filters: AuditFilters = Depends(),
    limit: int = Query(default=50, ge=1, le=500),
    before_id: int | None = Query(default=None, ge=1, description="the last id of the previous page"),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    with read_session(services.sessions) as s:
        items = audit_trail.query(s, **filters.values, before_id=before_id, limit=limit)
    return {"items": items, "next_before_id": items[-1]["id"] if len(items) == limit else None}


@router.get("/audit.csv", summary="The audit trail as CSV (same filters; newest first)")
def audit_csv(filters: AuditFilters = Depends(), services: Services = Depends(get_services)) -> Response:
    with read_session(services.sessions) as s:
        items = audit_trail.query(s, **filters.values, limit=CSV_MAX_ROWS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(audit_trail.CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                json.dumps(item[c], sort_keys=True) if isinstance(item[c], dict | list) else item[c]
                for c in audit_trail.CSV_COLUMNS
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="coinpilot-audit.csv"'},
    )


@router.get("/escalation", summary="Risk escalation: the step, its record, what the next step needs")
def escalation_status(services: Services = Depends(get_services)) -> dict[str, Any]:
    assert services.escalation is not None
    return services.escalation.status()


@router.post(
    "/escalation/approve",
    summary="Approve the next escalation step (needs a clean record at the current one)",
    dependencies=[Depends(require_token)],
)
def escalation_approve(
    services: Services = Depends(get_services), actor: str = Depends(require_token)
) -> Any:
    assert services.escalation is not None
    try:
        return services.escalation.approve(actor)
    except EscalationRefused as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc), "missing": list(exc.missing)})


@router.get("/tokens", summary="API token names and whether they are active (never the secrets)")
def tokens(services: Services = Depends(get_services)) -> list[dict[str, Any]]:
    with read_session(services.sessions) as s:
        return [{"name": "default", "created_at": None, "revoked_at": None, "active": "yes"}] + [
            t.to_dict() for t in list_tokens(s)
        ]
