"""The rows a trade's safety decision leaves besides the trade itself.

Every decision of :class:`coinpilot.engine.orders.execution.TradeService` is audited with the inputs it
saw, and a refusal for the daily loss limit trips the loss breaker (ACTIVE -> REDUCING) in the
same locked transaction. Kept apart from the execution path so that the path reads as its steps
and what gets recorded for a decision can be read in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.trading_state import LOSS_BREAKER, breaker_target
from coinpilot.domain.types import TradingMode
from coinpilot.engine.orders.trade_intake import PreparedTrade
from coinpilot.store.models import Bot
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos.audit import write_audit
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.snapshot import BotFacts


def audit_held(
    s: Session,
    *,
    now: datetime,
    mode: TradingMode,
    raw: dict[str, Any],
    bot_id: int,
    decision: dict[str, Any],
) -> int:
    """The audit row of a request refused because trading is held (no exchange call made)."""
    return write_audit(
        s,
        now=now,
        mode=mode,
        bot_id=bot_id if isinstance(bot_id, int) and s.get(Bot, bot_id) is not None else None,
        side=None,
        intent=None,
        allowed=False,
        reasons=decision["reasons"],
        request={k: v if isinstance(v, str | int | bool | type(None)) else repr(v) for k, v in raw.items()},
        inputs={"decision": decision},
    )


def audit_decision(
    s: Session,
    prep: PreparedTrade,
    create: bool,
    decision: dict[str, Any],
    *,
    mode: TradingMode,
    configured: SafetyLimits,
    configured_json: Any,
    context: Any,
    now: datetime,
    limits: SafetyLimits | None = None,
) -> int:
    """The audit row of a safety decision, with the inputs it saw (and the limits in force,
    when escalation lowered them below the ``configured`` ones)."""
    return write_audit(
        s,
        now=now,
        mode=mode,
        bot_id=prep.request.bot_id,
        side=prep.request.side,
        intent=prep.request.intent,
        allowed=bool(decision.get("allowed")),
        reasons=list(decision.get("reasons") or []),
        request={**jsonable(prep.request), "dry_run": not create},
        inputs={
            "context": jsonable(context) if context is not None else None,
            "limits": configured_json if limits in (None, configured) else jsonable(limits),
            "decision": jsonable(decision),
        },
    )


def apply_breakers(
    s: Session,
    state: Any,
    bot: BotFacts,
    decision_obj: Any,
    decision: dict[str, Any],
    now: datetime,
    *,
    mode: TradingMode,
) -> None:
    """A decision that sets ``reduce_trading`` trips the daily loss breaker."""
    reasons = (
        "; ".join(
            str(r.get("message", r) if isinstance(r, dict) else r) for r in decision.get("reasons") or []
        )
        or "circuit breaker"
    )
    if getattr(decision_obj, "reduce_trading", False):
        target = breaker_target(control_repo.effective_state(state, mode))
        if target is not None:
            control_repo.change_state(
                s,
                state,
                target,
                now=now,
                actor=LOSS_BREAKER,
                reason=f"daily loss breaker: {reasons}",
                mode=mode,
                command="breaker",
                extra={"reasons": decision.get("reasons"), "bot_id": bot.id},
            )
