"""The audit trail of changes: who (a token's name, ``cli``, or the system) changed what, when,
with the values before and after.

Written to ``control_events`` — the table trading-state changes already use — so one query
answers "what happened"; safety decisions stay in ``safety_audit`` (not copied here) and are
read from there by the audit API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.domain.types import TradingMode
from coinpilot.store.models import ControlEvent, SafetyAudit
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos.jsonable import jsonable


def record_change(
    session: Session,
    *,
    at: datetime,
    actor: str,
    mode: TradingMode,
    action: str,
    bot_id: int | None = None,
    before: Any = None,
    after: Any = None,
    **detail: Any,
) -> None:
    """One audit entry. ``before``/``after`` are the changed values (None where not applicable)."""
    body: dict[str, Any] = {**detail}
    if bot_id is not None:
        body["bot_id"] = bot_id
    if before is not None:
        body["before"] = jsonable(before)
    if after is not None:
        body["after"] = jsonable(after)
    control_repo.record_event(session, at=at, action=action, actor=actor, mode=mode, detail=body)


def record_optimisation_applied(
    session: Session,
    *,
    at: datetime,
    actor: str,
    mode: TradingMode,
    bot_id: int,
    before: dict[str, Any],
    after: dict[str, Any],
    source: str,
) -> None:
    """The hook for applying an optimisation result to a bot (the backtester calls it)."""
    record_change(
        session,
        at=at,
        actor=actor,
        mode=mode,
        action="optimisation_applied",
        bot_id=bot_id,
        before=before,
        after=after,
        source=source,
    )


BOOKKEEPING = frozenset({"updated_at"})  # changes with every write: not a change a person made


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ (bookkeeping timestamps aside), as (before, after)."""
    keys = [k for k in after if k not in BOOKKEEPING and before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


BOT_STATUS_AFTER = {
    "bot_started": "RUNNING",
    "bot_stopped": "STOPPED",
    "bot_paused": "PAUSED",
}  # recorded with "from" only


def _event_dict(e: ControlEvent) -> dict[str, Any]:
    detail = dict(e.detail or {})
    before, after = detail.pop("before", None), detail.pop("after", None)
    if before is None and after is None and "from" in detail and "to" in detail:
        before, after = {"state": detail["from"]}, {"state": detail["to"]}  # a trading-state change
    elif before is None and after is None and "from" in detail and e.action in BOT_STATUS_AFTER:
        before, after = {"status": detail["from"]}, {"status": BOT_STATUS_AFTER[e.action]}
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "source": "change",
        "action": e.action,
        "actor": e.actor,
        "mode": e.mode.value,
        "bot_id": detail.get("bot_id"),
        "before": before,
        "after": after,
        "detail": detail,
    }


def _refusal_dict(a: SafetyAudit) -> dict[str, Any]:
    return {
        "id": a.id,
        "at": a.created_at.isoformat(),
        "source": "safety_refusal",
        "action": "safety_refusal",
        "actor": "safety",
        "mode": a.mode.value,
        "bot_id": a.bot_id,
        "before": None,
        "after": None,
        "detail": {
            "side": a.side.value if a.side else None,
            "intent": a.intent.value if a.intent else None,
            "reasons": a.reasons,
            "request": a.request,
        },
    }


def query(
    session: Session,
    *,
    source: str = "changes",
    actor: str | None = None,
    action: str | None = None,
    bot_id: int | None = None,
    mode: TradingMode | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first; page with ``before_id`` = the last id of the previous page.

    ``source="changes"``: the audit trail of changes (control events). ``"refusals"``: the
    trades the safety service refused (from the safety audit, with every reason).
    """
    if source == "refusals":
        stmt = sa.select(SafetyAudit).where(SafetyAudit.allowed.is_(False))
        if bot_id is not None:
            stmt = stmt.where(SafetyAudit.bot_id == bot_id)
        if mode is not None:
            stmt = stmt.where(SafetyAudit.mode == mode)
        if since is not None:
            stmt = stmt.where(SafetyAudit.created_at >= since)
        if until is not None:
            stmt = stmt.where(SafetyAudit.created_at < until)
        if before_id is not None:
            stmt = stmt.where(SafetyAudit.id < before_id)
        if actor not in (None, "safety") or action not in (None, "safety_refusal"):
            return []
        return [_refusal_dict(a) for a in session.scalars(stmt.order_by(SafetyAudit.id.desc()).limit(limit))]
    ev = sa.select(ControlEvent)
    if actor is not None:
        ev = ev.where(ControlEvent.actor == actor)
    if action is not None:
        ev = ev.where(ControlEvent.action == action)
    if bot_id is not None:
        ev = ev.where(ControlEvent.detail["bot_id"].as_integer() == bot_id)
    if mode is not None:
        ev = ev.where(ControlEvent.mode == mode)
    if since is not None:
        ev = ev.where(ControlEvent.at >= since)
    if until is not None:
        ev = ev.where(ControlEvent.at < until)
    if before_id is not None:
        ev = ev.where(ControlEvent.id < before_id)
    return [_event_dict(e) for e in session.scalars(ev.order_by(ControlEvent.id.desc()).limit(limit))]


CSV_COLUMNS = ("id", "at", "source", "action", "actor", "mode", "bot_id", "before", "after", "detail")
