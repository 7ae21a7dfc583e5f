"""Trade execution: safety check and trade row in one locked transaction, then the order.

The path (ARCHITECTURE.md "One order"):

1. check the input (``InvalidTradeRequest`` before anything but an audit row is written);
2. fetch product, price and balances from the exchange *before* the lock (keeps it short);
   steps 1-2 live in :mod:`coinpilot.engine.orders.trade_intake`;
3. one transaction that starts with ``acquire_trading_lock``: gather the safety context from
   the database, ``safety.validate``, write the audit row, apply a circuit breaker's verdict,
   and, if allowed, insert the trade PENDING with a fresh client_order_id — COMMIT;
4. only then send the order (:mod:`coinpilot.engine.orders.trade_send`). Ack -> OPEN; rejected
   -> FAILED; unknown outcome -> stays PENDING with ``last_error`` and is replayed later with the
   same client_order_id (order sync / start-up reconciliation).

Safety fails closed: any error while gathering the context or validating refuses the trade and
the audit row says why.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety import SafetyContext, validate
from coinpilot.domain.temperature import buy_side_temperature
from coinpilot.domain.types import (
    Side,
    TemperatureLevel,
    TradeIntent,
    TradingMode,
)
from coinpilot.engine.orders import decision_records as records
from coinpilot.engine.orders.fresh_approval import FreshApproval
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.orders.trade_intake import (
    ExecutionResult,
    InvalidTradeRequest,
    PreparedTrade,
    TradeIntake,
    refusal,
)
from coinpilot.engine.orders.trade_send import TradeSender, pending_next_step
from coinpilot.engine.risk import escalation
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import acquire_trading_lock
from coinpilot.store.models import Bot, BotRuntime
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.dto import TradeDTO
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.snapshot import gather_context

__all__ = ["SEND_GRACE_SECONDS", "ExecutionResult", "InvalidTradeRequest", "TradeService"]
log = logging.getLogger(__name__)

# A PENDING trade is left to the sender this long before the order sync replays it.
SEND_GRACE_SECONDS = 2.0


class _BotChanged(Exception):
    """The bot is gone, or its id now names a bot on another pair than the one the request was
    priced for: the request starts over from the input check (which audits an unknown bot)."""


class _SafetyCheckFailed(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class TradeService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        exchange: Exchange,
        clock: Clock,
        mode: TradingMode,
        limits: SafetyLimits,
    ) -> None:
        self._sf = session_factory
        self._clock = clock
        self._mode = TradingMode(mode)
        self._limits = limits
        self._escalated = escalation.is_escalated(self._mode)
        self._limits_json = jsonable(limits)  # frozen: serialised once for every audit row
        self._orders = OrderSync(session_factory, exchange, clock, self._mode)
        self._sender = TradeSender(session_factory, exchange, self._orders, self._mode)
        self._intake = TradeIntake(session_factory, exchange, clock, self._mode)
        # What the order sync asks before re-sending an order whose first send is unknown.
        self.fresh_approval = FreshApproval(session_factory, self._intake, clock, self._mode, limits)
        self._held: str | None = None  # why new orders are held (start-up reconciliation)

    def hold(self, reason: str) -> None:
        """Refuse every new order (audited, nothing sent) until :meth:`release`."""
        self._held = reason

    def release(self) -> None:
        self._held = None

    @property
    def mode(self) -> TradingMode:
        return self._mode

    @property
    def order_sync(self) -> OrderSync:
        """The sender of this service's orders (the composition root attaches metrics to it)."""
        return self._orders

    @property
    def limits(self) -> SafetyLimits:
        return self._limits

    # ---- public ------------------------------------------------------------------------
    def validate(
        self,
        bot_id: int,
        side: Side | str,
        quote_size: object = None,
        base_size: object = None,
        intent: TradeIntent | str = TradeIntent.MANUAL,
    ) -> ExecutionResult:
        """Dry run: the safety decision this request would get now (audited, nothing placed)."""
        return self._run(bot_id, side, quote_size, base_size, intent, create=False)

    def execute(
        self,
        bot_id: int,
        side: Side | str,
        quote_size: object = None,
        base_size: object = None,
        intent: TradeIntent | str = TradeIntent.MANUAL,
        signal_snapshot: dict[str, Any] | None = None,
        confirmation_snapshot: dict[str, Any] | None = None,
        temperature: TemperatureLevel | str | None = None,
    ) -> ExecutionResult:
        """Check, record and place one market order. See the module docstring for the steps.

        A manual order has a person waiting: every exchange call it makes (quote and balance reads
        as well as the send) tries once, so the answer comes within about one client timeout; the
        order sync makes any later attempts in the background."""
        with self._sender.attempts_for(intent):
            return self._run(
                bot_id,
                side,
                quote_size,
                base_size,
                intent,
                create=True,
                extras={
                    "signal_snapshot": signal_snapshot,
                    "confirmation_snapshot": confirmation_snapshot,
                    "temperature": temperature,
                },
            )

    def get_trade(self, trade_id: int) -> TradeDTO | None:
        """The trade of this service's mode (None for another mode's or an unknown id)."""
        return self._sender.get_trade(trade_id)

    # ---- steps -------------------------------------------------------------------------
    def _run(
        self,
        bot_id: int,
        side: Side | str,
        quote_size: object,
        base_size: object,
        intent: TradeIntent | str,
        *,
        create: bool,
        extras: dict[str, Any] | None = None,
        retried: bool = False,
    ) -> ExecutionResult:
        raw = {
            "bot_id": bot_id,
            "side": side,
            "quote_size": quote_size,
            "base_size": base_size,
            "intent": intent,
            "dry_run": not create,
        }
        held = self._held
        if held is not None and create:
            return self._refuse_held(raw, bot_id, held)
        temperature = (extras or {}).get("temperature")
        if temperature is not None:
            try:
                temperature = TemperatureLevel(temperature)
            except ValueError:
                self._intake.audit_invalid(raw, None, "temperature", f"unknown temperature {temperature!r}")
        prep_or_refusal = self._intake.prepare(bot_id, side, quote_size, base_size, intent, raw)
        if isinstance(prep_or_refusal, ExecutionResult):
            return prep_or_refusal
        prep = prep_or_refusal
        try:
            decision, audit_id, created = self._decide(prep, create, extras or {}, temperature)
        except _BotChanged:
            self._intake.forget(bot_id)
            if retried:
                raise InvalidTradeRequest("bot_id", f"bot {bot_id!r} changed during the request") from None
            return self._run(
                bot_id, side, quote_size, base_size, intent, create=create, extras=extras, retried=True
            )
        if created is None:
            return ExecutionResult(bool(decision.get("allowed")) and not create, decision, audit_id, None)
        trade_id, client_order_id = created
        self._sender.send(trade_id, client_order_id, prep)
        trade = self.get_trade(trade_id)
        return ExecutionResult(True, decision, audit_id, trade, pending_next_step(trade))

    def _refuse_held(self, raw: dict[str, Any], bot_id: int, reason: str) -> ExecutionResult:
        """Trading is held: refuse before any exchange call (it may be the one hanging)."""
        decision = refusal("RECONCILING", f"Trading is held: {reason}. Retry when it has finished.")
        with self._sf() as s, s.begin():
            audit_id = records.audit_held(
                s, now=self._clock.now(), mode=self._mode, raw=raw, bot_id=bot_id, decision=decision
            )
        return ExecutionResult(False, decision, audit_id, None)

    def _decide(
        self,
        prep: PreparedTrade,
        create: bool,
        extras: dict[str, Any],
        temperature: TemperatureLevel | None,
    ) -> tuple[dict[str, Any], int, tuple[int, str] | None]:
        """Check and record under the trading lock; returns (decision, audit id, (trade id,
        client_order_id) of the committed PENDING trade or None)."""
        now = self._clock.now()
        try:
            return self._decide_locked(prep, create, extras, temperature, now)
        except _SafetyCheckFailed as failed:  # fail closed; its transaction was rolled back
            log.error("safety check failed; refusing the trade", exc_info=failed.cause)
            decision = refusal("safety_check_error", f"safety check could not run: {failed.cause!r}")
            with self._sf() as s, s.begin():
                audit_id = self._audit(s, prep, create, decision, context=None, now=now)
            return decision, audit_id, None

    def _decide_locked(
        self,
        prep: PreparedTrade,
        create: bool,
        extras: dict[str, Any],
        temperature: TemperatureLevel | None,
        now: datetime,
    ) -> tuple[dict[str, Any], int, tuple[int, str] | None]:
        with self._sf() as s, s.begin():
            return self.decide_in(s, prep, create, extras, temperature, now)

    def decide_in(
        self,
        s: Session,
        prep: PreparedTrade,
        create: bool,
        extras: dict[str, Any],
        temperature: TemperatureLevel | None,
        now: datetime,
    ) -> tuple[dict[str, Any], int, tuple[int, str] | None]:
        """Step 3 inside the caller's transaction (``s`` has begun, nothing run in it yet): the
        caller commits it, or the start-up warm-up (``orders/warmup.py``) rolls it back."""
        state = acquire_trading_lock(s, now)
        try:
            gathered = gather_context(
                s,
                now=now,
                mode=self._mode,
                state=state,
                bot_id=prep.request.bot_id,
                product=prep.product,
                balances=prep.balances,
                limits=self._limits,
                request=prep.request,
                balances_read_at=prep.balances_read_at,
            )
            if gathered is not None and gathered.facts.bot.pair == prep.request.pair:
                limits = self._limits_now(s)
                context = self._with_temperature(s, gathered.context, prep, temperature, limits)
                gathered = replace(gathered, context=context)
                decision_obj = validate(prep.request, context, limits)
                decision = dict(decision_obj.to_dict())
                if prep.drift:
                    decision["drift"] = prep.drift
        except Exception as exc:
            # Leave the transaction (on PostgreSQL a failed statement poisons it); the
            # refusal is audited in a fresh one by the caller.
            raise _SafetyCheckFailed(exc) from exc
        if gathered is None or gathered.facts.bot.pair != prep.request.pair:
            raise _BotChanged  # gone, or the id names another bot: start over (input check)
        bot = gathered.facts.bot
        allowed = bool(decision.get("allowed"))
        audit_id = self._audit(s, prep, create, decision, context=gathered.context, now=now, limits=limits)
        if create:
            records.apply_breakers(s, state, bot, decision_obj, decision, now, mode=self._mode)
        if not (create and allowed):
            return decision, audit_id, None
        if gathered.facts.position_id is None:
            position_repo.create_position(s, bot.id, bot.pair, self._mode, now)
        client_order_id = str(uuid.uuid4())
        trade_id = trade_repo.insert_pending(
            s,
            bot_id=bot.id,
            mode=self._mode,
            side=prep.request.side,
            intent=prep.request.intent,
            pair=prep.request.pair,
            client_order_id=client_order_id,
            requested_quote_size=prep.request.quote_size,
            requested_base_size=prep.request.base_size,
            signal_snapshot=jsonable(extras.get("signal_snapshot")),
            confirmation_snapshot=jsonable(extras.get("confirmation_snapshot")),
            temperature=temperature,
            safety_audit_id=audit_id,
            next_sync_at=now + timedelta(seconds=SEND_GRACE_SECONDS),
            now=now,
        )
        return decision, audit_id, (trade_id, client_order_id)

    def _limits_now(self, s: Session) -> SafetyLimits:
        """The configured limits, capped by the risk-escalation step in production."""
        if not self._escalated:
            return self._limits
        return escalation.limits_for(s, self._mode, self._limits)

    def _with_temperature(
        self,
        s: Session,
        context: SafetyContext,
        prep: PreparedTrade,
        temperature: TemperatureLevel | None,
        limits: SafetyLimits,
    ) -> SafetyContext:
        """Add the bot's buy-side temperature when a minimum applies to this buy: the engine's
        own reading for its entries, else the bot's latest evaluation."""
        if prep.request.is_exit or limits.min_entry_temperature is None:
            return context
        level = temperature if prep.request.intent is TradeIntent.ENTRY else None
        if level is None:
            row = s.execute(
                sa.select(BotRuntime.last_score, Bot.buy_threshold, Bot.sell_threshold)
                .join(Bot, Bot.id == BotRuntime.bot_id)
                .where(BotRuntime.bot_id == prep.request.bot_id)
            ).first()
            if row is not None and row[0] is not None:
                level = buy_side_temperature(row[0], row[1], row[2])
        return replace(context, entry_temperature=level)

    def _audit(
        self,
        s: Session,
        prep: PreparedTrade,
        create: bool,
        decision: dict[str, Any],
        *,
        context: Any,
        now: datetime,
        limits: SafetyLimits | None = None,
    ) -> int:
        return records.audit_decision(
            s,
            prep,
            create,
            decision,
            mode=self._mode,
            configured=self._limits,
            configured_json=self._limits_json,
            context=context,
            now=now,
            limits=limits,
        )
