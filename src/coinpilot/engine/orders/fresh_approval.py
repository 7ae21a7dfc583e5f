"""A fresh safety approval for re-sending an order whose first send's outcome is unknown.

The trade row already exists (PENDING, no order id, not found on the exchange). Re-sending it
may create the order now, so it is judged as a new order would be: the trading state, the bot's
status and every limit, at today's prices and balances, under the trading lock. The trade is
not its own obstacle: it is left out of the open trades, the buys in flight and today's counts.
The decision is audited like any other (its request names the trade it re-sends).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety import validate
from coinpilot.domain.types import TradingMode
from coinpilot.engine.orders.trade_intake import ExecutionResult, InvalidTradeRequest, TradeIntake
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.repos.audit import write_audit
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.snapshot import gather_context

if TYPE_CHECKING:
    from coinpilot.engine.orders.sync import TradeView

log = logging.getLogger(__name__)


class FreshApproval:
    """``approve(view)``: None when the re-send is allowed now, else why not (readable)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        intake: TradeIntake,
        clock: Clock,
        mode: TradingMode,
        limits: SafetyLimits,
    ) -> None:
        self._sf = session_factory
        self._intake = intake
        self._clock = clock
        self._mode = mode
        self._limits = limits

    def __call__(self, view: TradeView) -> str | None:
        try:
            return self._approve(view)
        except InvalidTradeRequest as exc:
            return f"{exc.field}: {exc.message}"
        except Exception as exc:  # fail closed: no approval, no send
            log.exception("fresh approval of trade %s failed", view.id)
            return f"the safety check could not run ({type(exc).__name__}: {exc})"

    def _approve(self, v: TradeView) -> str | None:
        raw: dict[str, Any] = {
            "bot_id": v.bot_id,
            "side": v.side.value,
            "quote_size": str(v.quote_size) if v.quote_size is not None else None,
            "base_size": str(v.base_size) if v.base_size is not None else None,
            "intent": v.intent.value,
            "resend_of_trade": v.id,
        }
        prep = self._intake.prepare(v.bot_id, v.side, v.quote_size, v.base_size, v.intent, raw)
        if isinstance(prep, ExecutionResult):
            return _messages(prep.decision)
        now = self._clock.now()
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            gathered = gather_context(
                s,
                now=now,
                mode=self._mode,
                state=state,
                bot_id=v.bot_id,
                product=prep.product,
                balances=prep.balances,
                limits=self._limits,
                request=prep.request,
                exclude_trade_id=v.id,
            )
            if gathered is None:
                return f"bot {v.bot_id} no longer exists"
            # The trade judged again is left out of its own counts (``exclude_trade_id``).
            context = gathered.context
            decision = validate(prep.request, context, self._limits).to_dict()
            write_audit(
                s,
                now=now,
                mode=self._mode,
                bot_id=v.bot_id,
                side=v.side,
                intent=v.intent,
                allowed=bool(decision.get("allowed")),
                reasons=list(decision.get("reasons") or []),
                request={**jsonable(prep.request), "dry_run": False, "resend_of_trade": v.id},
                inputs={"context": jsonable(context), "limits": jsonable(self._limits), "decision": decision},
            )
        return None if decision.get("allowed") else _messages(decision)


def _messages(decision: dict[str, Any]) -> str:
    reasons = decision.get("reasons") or []
    return "; ".join(str(r.get("message", r) if isinstance(r, dict) else r) for r in reasons) or "refused"
