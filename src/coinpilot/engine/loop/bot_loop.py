"""The trading half of the bot loop: after an evaluation, decide → (safety) → execute.

For each evaluated bot, :func:`decide` picks at most one order from what the bot knows now
(position, high-water mark, take-profit rungs already taken, confirmation status, bid/ask),
using the pure rules of :mod:`coinpilot.domain.strategy`:

1. **Exits first, every evaluation, with or without a confirmed signal**: stop-loss from the
   average entry, trailing stop from ``BotRuntime.high_water_price`` (the highest bid since the
   cycle's first entry), exit on a *confirmed* SELL, then the take-profit ladder. A rung fires
   once per position cycle: the rungs taken are derived from this cycle's take-profit trades
   (``signal_snapshot["rung"]`` of trades created since the position opened), so they survive a
   restart and are naturally cleared when the position closes.
2. **Entries only on a confirmed BUY** of a RUNNING bot: the tranche size comes from
   ``plan_entry`` (fixed / graduated by temperature / pyramid, DCA step from the last entry,
   at most ``min(bot.max_tranches, limits.max_tranches)`` tranches, position cost within
   ``limits.max_position_usd_per_bot``).
3. Nothing while the bot has a non-final trade: one order at a time per bot.

Every order goes through :meth:`TradeService.execute`, so the safety service has the last word.
A confirmed action leads to at most one attempt (order or refusal); afterwards the confirmation
timer restarts (:meth:`ConfirmationState.restarted`), so another order needs a full new
confirmation, and the cooldown runs from the fill (enforced by safety). A refused exit that is
not confirmation-driven (stops, take-profit) is retried no sooner than ``retry_refused_after``.

Emergency stop (see :mod:`coinpilot.domain.safety`): while it is engaged, or trading is
disabled, safety refuses every engine order, exits included; only the kill switch's
EMERGENCY_CLOSE sells (``coinpilot kill --close`` / the emergency-stop endpoint with
``close_positions``) may still close positions. A PAUSED bot (e.g. paused after consecutive
losses) still gets its automatic exits: :meth:`TradingStep.protect` runs the exit rules for
paused bots that hold a position, without signal exits or entries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.confirmation import ConfirmationState
from coinpilot.domain.decision import (
    BotView,
    OrderPlan,
    Signal,
    decide,
    effective_strategy,
    next_high_water,
)
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.types import Action, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import ExecutionResult, InvalidTradeRequest, TradeService
from coinpilot.exchange.base import ExchangeError
from coinpilot.store.db import session_scope
from coinpilot.store.models import BotRuntime, Position, Trade
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.positions import OPEN_TRANCHES

log = logging.getLogger("coinpilot.engine")

RETRY_REFUSED_SECONDS = 300.0


# ---- bulk reads ----------------------------------------------------------------------------


def load_positions(session: Session, mode: TradingMode, bot_ids: Iterable[int]) -> dict[int, Position]:
    ids = list(bot_ids)
    if not ids:
        return {}
    rows = session.scalars(
        sa.select(Position)
        .where(Position.mode == mode, Position.bot_id.in_(ids))
        .options(selectinload(OPEN_TRANCHES))
    )
    return {p.bot_id: p for p in rows}


def bots_with_open_trades(session: Session, mode: TradingMode, bot_ids: Iterable[int]) -> set[int]:
    ids = list(bot_ids)
    if not ids:
        return set()
    rows = session.scalars(
        sa.select(Trade.bot_id)
        .where(Trade.mode == mode, Trade.status.in_(trade_repo.NON_FINAL), Trade.bot_id.in_(ids))
        # A trade needing a person's attention no longer holds back its bot's exits.
        .where(Trade.attention_reason.is_(None))
        .distinct()
    )
    return set(rows)


def rungs_taken(
    session: Session, mode: TradingMode, opened: dict[int, datetime]
) -> dict[int, frozenset[int]]:
    """Take-profit rungs already used in each bot's current cycle (since the position opened)."""
    if not opened:
        return {}
    rows = session.execute(
        sa.select(
            Trade.bot_id, Trade.created_at, Trade.signal_snapshot, Trade.status, Trade.filled_base_size
        ).where(
            Trade.mode == mode,
            Trade.intent == TradeIntent.TAKE_PROFIT,
            Trade.bot_id.in_(list(opened)),
            Trade.created_at >= min(opened.values()),
        )
    )
    out: dict[int, set[int]] = {}
    for bot_id, created, snap, status, filled in rows:
        if created < opened[bot_id]:
            continue
        if TradeStatus(status).is_final and status != TradeStatus.SETTLED and not filled:
            continue  # refused/failed with nothing sold: the rung is still available
        rung = (snap or {}).get("rung")
        if isinstance(rung, int):
            out.setdefault(bot_id, set()).add(rung)
    return {b: frozenset(r) for b, r in out.items()}


# ---- execution -----------------------------------------------------------------------------


@dataclass
class StepOutcome:
    bot_id: int
    plan: OrderPlan
    result: ExecutionResult | None
    error: str | None = None
    latency_seconds: float = 0.0

    @property
    def placed(self) -> bool:
        return bool(self.result and self.result.trade is not None)


class TradingStep:
    """Executes the plans :func:`decide` makes, through the safety path, one order per bot."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        trades: TradeService,
        clock: Clock,
        *,
        retry_refused_after: float = RETRY_REFUSED_SECONDS,
        on_exchange_error: Callable[[str, BaseException | str], object] | None = None,
        may_trade: Callable[[int], bool] | None = None,
        timer: Callable[[], float] | None = None,
    ) -> None:
        import time

        self._sf = sessions
        self._trades = trades
        self._clock = clock
        self._retry = timedelta(seconds=retry_refused_after)
        self._refused_until: dict[tuple[int, TradeIntent], datetime] = {}
        # Plans refused for a reason time cannot cure (below the product's minimums): never
        # re-sent while the plan stays the same (no audit row every 5 minutes); the reason, once.
        self._never: dict[tuple[int, TradeIntent, Decimal | None, Decimal | None], str] = {}
        self._guard = threading.Lock()
        self._on_exchange_error = on_exchange_error
        self._may_trade = may_trade
        self._timer = timer or time.perf_counter
        self.outcomes: list[StepOutcome] = []  # recent outcomes (bench/tests); bounded
        self.max_outcomes = 1000

    @property
    def limits(self) -> SafetyLimits:
        return self._trades.limits

    @property
    def mode(self) -> TradingMode:
        return self._trades.mode

    def retry_blocked(self, bot_id: int, plan: OrderPlan, now: datetime) -> bool:
        if plan.confirmation_driven:
            return False
        with self._guard:
            until = self._refused_until.get((bot_id, plan.intent))
        return until is not None and now < until

    def execute(self, view: BotView, plan: OrderPlan, signal: Signal | None, started: float) -> StepOutcome:
        now = self._clock.now()
        with self._guard:
            never = self._never.get(_plan_key(view.bot_id, plan))
        if never is not None:
            return StepOutcome(view.bot_id, plan, None, never)
        if self.retry_blocked(view.bot_id, plan, now):
            return StepOutcome(view.bot_id, plan, None, "refused recently; waiting before retrying")
        if self._may_trade is not None and not self._may_trade(view.bot_id):
            return StepOutcome(view.bot_id, plan, None, "this worker no longer holds the bot's lease")
        snapshot = dict(signal.snapshot) if signal else {}
        snapshot.update({"decision": plan.reason, "intent": plan.intent.value})
        if plan.rung is not None:
            snapshot["rung"] = plan.rung
        try:
            result = self._trades.execute(
                view.bot_id,
                plan.side,
                quote_size=plan.quote_size,
                base_size=plan.base_size,
                intent=plan.intent,
                signal_snapshot=snapshot,
                confirmation_snapshot=signal.confirmation if signal else None,
                temperature=signal.temperature if signal else None,
            )
        except InvalidTradeRequest as exc:
            outcome = StepOutcome(view.bot_id, plan, None, f"invalid order: {exc}")
            self._note_refusal(view.bot_id, plan, now)
            self._remember(outcome)
            return outcome
        latency = self._timer() - started
        outcome = StepOutcome(view.bot_id, plan, result, None, latency)
        if result.trade is None:
            self._note_refusal(view.bot_id, plan, now)
            codes = [r.get("code") for r in result.decision.get("reasons") or [] if isinstance(r, dict)]
            if codes and all(c in NEVER_MEETS for c in codes):
                self._note_never(view.bot_id, plan, result.decision)
            if "market_data_unavailable" in codes and self._on_exchange_error is not None:
                self._on_exchange_error("execute", "; ".join(str(r) for r in result.decision["reasons"]))
            log.info(
                "bot %s: %s %s refused: %s",
                view.bot_id,
                plan.intent.value,
                plan.side.value,
                "; ".join(
                    str(r.get("message", r)) if isinstance(r, dict) else str(r)
                    for r in result.decision.get("reasons") or []
                ),
                extra={"bot": view.bot_id},
            )
        else:
            trade = result.trade
            if trade.status == TradeStatus.PENDING.value and self._on_exchange_error is not None:
                self._on_exchange_error("place_order", trade.last_error or "order outcome unknown")
            log.info(
                "bot %s: %s %s placed (trade %s, %s): %s",
                view.bot_id,
                plan.intent.value,
                plan.side.value,
                trade.id,
                trade.status,
                plan.reason,
                extra={"bot": view.bot_id, "trade": trade.id, "client_order_id": trade.client_order_id},
            )
        if plan.confirmation_driven:
            self._restart_confirmation(view.bot_id, now)
        self._remember(outcome)
        return outcome

    def _note_never(self, bot_id: int, plan: OrderPlan, decision: dict[str, Any]) -> None:
        reasons = "; ".join(
            str(r.get("message", r)) for r in decision.get("reasons") or [] if isinstance(r, dict)
        )
        message = (
            f"{plan.intent.value} {plan.side.value} of {plan.base_size or plan.quote_size} can never meet "
            f"the product's minimum ({reasons}); not retried while the plan stays the same"
        )
        log.warning("bot %s: %s", bot_id, message)  # said once
        with self._guard:
            self._never[_plan_key(bot_id, plan)] = message

    def _note_refusal(self, bot_id: int, plan: OrderPlan, now: datetime) -> None:
        if plan.confirmation_driven:
            return
        with self._guard:
            self._refused_until[(bot_id, plan.intent)] = now + self._retry

    def _remember(self, outcome: StepOutcome) -> None:
        with self._guard:
            self.outcomes.append(outcome)
            if len(self.outcomes) > self.max_outcomes:
                del self.outcomes[: len(self.outcomes) - self.max_outcomes]

    def _restart_confirmation(self, bot_id: int, now: datetime) -> None:
        """One attempt per confirmation: the next order needs a full new confirmation period."""
        with session_scope(self._sf) as s:
            rt = s.get(BotRuntime, bot_id)
            if rt is None or rt.confirm_action is None:
                return
            state = ConfirmationState(Action(rt.confirm_action), rt.confirm_since).restarted(now)
            rt.confirm_action = state.action
            rt.confirm_since = state.since


# Refusal codes no amount of waiting cures: the same order would be refused on every retry.
NEVER_MEETS = frozenset({"BELOW_PRODUCT_MINIMUM"})


def _plan_key(bot_id: int, plan: OrderPlan) -> tuple[int, TradeIntent, Decimal | None, Decimal | None]:
    return (bot_id, plan.intent, plan.base_size, plan.quote_size)


def is_exchange_failure(exc: BaseException) -> bool:
    """Failures that say the exchange (or market data) is unhealthy, for the circuit breaker."""
    return isinstance(exc, ExchangeError) and bool(getattr(exc, "retryable", False))


__all__ = [
    "BotView",
    "OrderPlan",
    "Signal",
    "StepOutcome",
    "TradingStep",
    "decide",
    "effective_strategy",
    "is_exchange_failure",
    "load_positions",
    "next_high_water",
    "rungs_taken",
]
