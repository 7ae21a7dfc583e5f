"""Trade execution: safety check and trade row in one locked transaction, then the order.

The path (ARCHITECTURE.md "One order"):

1. check the input (``InvalidTradeRequest`` before anything but an audit row is written);
2. fetch product, price and balances from the exchange *before* the lock (keeps it short);
3. one transaction that starts with ``acquire_trading_lock``: gather the safety context from
   the database, ``safety.validate``, write the audit row, apply a circuit breaker's verdict,
   and, if allowed, insert the trade PENDING with a fresh client_order_id — COMMIT;
4. only then send the order. Ack -> OPEN; rejected -> FAILED; unknown outcome -> stays PENDING
   with ``last_error`` and is replayed later with the same client_order_id (order sync /
   start-up reconciliation).

Safety fails closed: any error while gathering the context or validating refuses the trade and
the audit row says why.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Product
from coinpilot.domain.safety import SafetyRequest, validate
from coinpilot.domain.types import (
    BotStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradingMode,
    quantize_down,
    to_decimal,
)
from coinpilot.engine.sync import OrderSync
from coinpilot.exchange.base import Balance, Exchange, OrderRequest
from coinpilot.store.db import acquire_trading_lock, read_session
from coinpilot.store.models import Bot
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.audit import write_audit
from coinpilot.store.repos.dto import TradeDTO, read_trade_dto
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.snapshot import BotFacts, bot_facts, gather_context

log = logging.getLogger(__name__)

# A PENDING trade is left to the sender this long before the order sync replays it.
SEND_GRACE_SECONDS = 2.0


class _BotChanged(Exception):
    """The bot id now names a bot on another pair than the one the request was priced for."""


class _SafetyCheckFailed(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(repr(cause))
        self.cause = cause


class InvalidTradeRequest(ValueError):
    """The request itself is malformed (not a safety refusal). ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ExecutionResult:
    allowed: bool
    decision: dict[str, Any]  # safety Decision.to_dict() (or the fail-closed refusal)
    audit_id: int
    trade: TradeDTO | None  # None when refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "decision": jsonable(self.decision),
            "audit_id": self.audit_id,
            "trade": self.trade.to_dict() if self.trade else None,
        }


@dataclass(frozen=True)
class _Prepared:
    bot_id: int
    pair: str
    side: Side
    intent: TradeIntent
    quote_size: Decimal | None
    base_size: Decimal | None
    product: Product
    price: Decimal
    balances: dict[str, Balance]


def _refusal(code: str, message: str) -> dict[str, Any]:
    """A Decision-shaped refusal for failures outside ``safety.validate`` (fail closed)."""
    return {
        "allowed": False,
        "reasons": [{"code": code, "message": message}],
        "checks": [],
        "engage_emergency_stop": False,
        "pause_bot": False,
    }


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
        self._exchange = exchange
        self._clock = clock
        self._mode = TradingMode(mode)
        self._limits = limits
        self._limits_json = jsonable(limits)  # frozen: serialised once for every audit row
        self._orders = OrderSync(session_factory, exchange, clock, self._mode)
        # A bot's pair never changes, so it is read once; the locked check re-reads the bot and
        # starts over if the id now names another bot (deleted and re-created).
        self._pairs: dict[int, str] = {}

    @property
    def mode(self) -> TradingMode:
        return self._mode

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
        """Check, record and place one market order. See the module docstring for the steps."""
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
        with read_session(self._sf) as s:
            dto = read_trade_dto(s, trade_id)
        return dto if dto is not None and dto.mode == self._mode.value else None

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
        temperature = (extras or {}).get("temperature")
        if temperature is not None:
            try:
                temperature = TemperatureLevel(temperature)
            except ValueError:
                self._audit_invalid(raw, None, "temperature", f"unknown temperature {temperature!r}")
        prep_or_refusal = self._prepare(bot_id, side, quote_size, base_size, intent, raw)
        if isinstance(prep_or_refusal, ExecutionResult):
            return prep_or_refusal
        prep = prep_or_refusal
        try:
            decision, audit_id, created = self._decide(prep, raw, create, extras or {}, temperature)
        except _BotChanged:
            self._pairs.pop(bot_id, None)
            if retried:
                raise InvalidTradeRequest("bot_id", f"bot {bot_id!r} changed during the request") from None
            return self._run(
                bot_id, side, quote_size, base_size, intent, create=create, extras=extras, retried=True
            )
        if created is None:
            return ExecutionResult(bool(decision.get("allowed")) and not create, decision, audit_id, None)
        trade_id, client_order_id = created
        self._send(trade_id, client_order_id, prep)
        return ExecutionResult(True, decision, audit_id, self.get_trade(trade_id))

    def _prepare(
        self,
        bot_id: int,
        side: Side | str,
        quote_size: object,
        base_size: object,
        intent: TradeIntent | str,
        raw: dict[str, Any],
    ) -> _Prepared | ExecutionResult:
        """Input checks (raise InvalidTradeRequest) and market inputs (refuse if unavailable)."""
        is_id = isinstance(bot_id, int) and not isinstance(bot_id, bool)
        pair = self._pairs.get(bot_id) if is_id else None
        if pair is None and is_id:
            with read_session(self._sf) as s:
                bot = bot_facts(s, bot_id)
            if bot is not None:
                pair = self._pairs[bot_id] = bot.pair
        if pair is None:
            self._audit_invalid(raw, None, "bot_id", f"no bot with id {bot_id!r}")
        known_bot = bot_id
        try:
            side_v = Side(side)
        except ValueError:
            self._audit_invalid(raw, known_bot, "side", f"must be 'buy' or 'sell', not {side!r}")
        try:
            intent_v = TradeIntent(intent)
        except ValueError:
            self._audit_invalid(raw, known_bot, "intent", f"unknown intent {intent!r}")
        if (quote_size is None) == (base_size is None):
            self._audit_invalid(raw, known_bot, "size", "give exactly one of quote_size / base_size")
        field = "quote_size" if quote_size is not None else "base_size"
        try:
            size = to_decimal(quote_size if quote_size is not None else base_size, field)
        except ValueError as exc:
            self._audit_invalid(raw, known_bot, field, str(exc).split(": ", 1)[-1])
        if size <= 0:
            self._audit_invalid(raw, known_bot, field, f"must be positive, got {size}")
        try:
            product = self._exchange.get_product(pair)
        except Exception as exc:
            return self._refuse_early(
                raw,
                known_bot,
                side_v,
                intent_v,
                "market_data_unavailable",
                f"could not read product {pair}: {exc}",
            )
        increment = product.quote_increment if field == "quote_size" else product.base_increment
        minimum = product.quote_min_size if field == "quote_size" else product.base_min_size
        sized = quantize_down(size, increment)
        if sized <= 0 or sized < minimum:
            self._audit_invalid(
                raw,
                known_bot,
                field,
                f"{size} is below the minimum of {minimum} for {pair} (increment {increment})",
            )
        try:
            book = self._exchange.get_best_bid_ask([pair]).get(pair)
            price = (book.ask if side_v == Side.BUY else book.bid) if book else product.price
            if price is None or not price > 0:
                raise ValueError("no price")
            balances = self._exchange.get_balances([product.base_currency, product.quote_currency])
        except Exception as exc:
            return self._refuse_early(
                raw,
                known_bot,
                side_v,
                intent_v,
                "market_data_unavailable",
                f"could not read price or balances for {pair}: {exc}",
            )
        return _Prepared(
            bot_id=bot_id,
            pair=pair,
            side=side_v,
            intent=intent_v,
            quote_size=sized if field == "quote_size" else None,
            base_size=sized if field == "base_size" else None,
            product=product,
            price=price,
            balances=balances,
        )

    def _audit_invalid(self, raw: dict[str, Any], bot_id: int | None, field: str, message: str) -> NoReturn:
        """Audit the malformed request, then raise ``InvalidTradeRequest``."""
        with self._sf() as s, s.begin():
            write_audit(
                s,
                now=self._clock.now(),
                mode=self._mode,
                bot_id=bot_id,
                side=None,
                intent=None,
                allowed=False,
                reasons=[{"code": "invalid_request", "field": field, "message": message}],
                request={
                    k: repr(v) if not isinstance(v, str | int | bool | type(None)) else v
                    for k, v in raw.items()
                },
                inputs={},
            )
        raise InvalidTradeRequest(field, message)

    def _refuse_early(
        self,
        raw: dict[str, Any],
        bot_id: int | None,
        side: Side,
        intent: TradeIntent,
        code: str,
        message: str,
    ) -> ExecutionResult:
        decision = _refusal(code, message)
        with self._sf() as s, s.begin():
            audit_id = write_audit(
                s,
                now=self._clock.now(),
                mode=self._mode,
                bot_id=bot_id,
                side=side,
                intent=intent,
                allowed=False,
                reasons=decision["reasons"],
                request=raw,
                inputs={"decision": decision},
            )
        return ExecutionResult(False, decision, audit_id, None)

    def _decide(
        self,
        prep: _Prepared,
        raw: dict[str, Any],
        create: bool,
        extras: dict[str, Any],
        temperature: TemperatureLevel | None,
    ) -> tuple[dict[str, Any], int, tuple[int, str] | None]:
        """Check and record under the trading lock; returns (decision, audit id, (trade id,
        client_order_id) of the committed PENDING trade or None)."""
        now = self._clock.now()
        request = SafetyRequest(
            bot_id=prep.bot_id,
            pair=prep.pair,
            side=prep.side,
            intent=prep.intent,
            quote_size=prep.quote_size,
            base_size=prep.base_size,
            price=prep.price,
        )
        try:
            return self._decide_locked(prep, request, raw, create, extras, temperature, now)
        except _SafetyCheckFailed as failed:  # fail closed; its transaction was rolled back
            log.error("safety check failed; refusing the trade", exc_info=failed.cause)
            decision = _refusal("safety_check_error", f"safety check could not run: {failed.cause!r}")
            with self._sf() as s, s.begin():
                audit_id = write_audit(
                    s,
                    now=now,
                    mode=self._mode,
                    bot_id=prep.bot_id,
                    side=prep.side,
                    intent=prep.intent,
                    allowed=False,
                    reasons=decision["reasons"],
                    request={**jsonable(request), "dry_run": not create},
                    inputs={"context": None, "limits": self._limits_json, "decision": decision},
                )
            return decision, audit_id, None

    def _decide_locked(
        self,
        prep: _Prepared,
        request: SafetyRequest,
        raw: dict[str, Any],
        create: bool,
        extras: dict[str, Any],
        temperature: TemperatureLevel | None,
        now: datetime,
    ) -> tuple[dict[str, Any], int, tuple[int, str] | None]:
        with self._sf() as s, s.begin():
            state = acquire_trading_lock(s, now)
            bot = bot_facts(s, prep.bot_id)
            if bot is None:  # deleted since the input check: nothing is written
                raise InvalidTradeRequest("bot_id", f"no bot with id {prep.bot_id!r}")
            if bot.pair != prep.pair:
                raise _BotChanged
            try:
                gathered = gather_context(
                    s,
                    now=now,
                    mode=self._mode,
                    state=state,
                    bot=bot,
                    product=prep.product,
                    balances=prep.balances,
                )
                decision_obj = validate(request, gathered.context, self._limits)
                decision = dict(decision_obj.to_dict())
            except Exception as exc:
                # Leave the transaction (on PostgreSQL a failed statement poisons it); the
                # refusal is audited in a fresh one by the caller.
                raise _SafetyCheckFailed(exc) from exc
            allowed = bool(decision.get("allowed"))
            audit_id = write_audit(
                s,
                now=now,
                mode=self._mode,
                bot_id=prep.bot_id,
                side=prep.side,
                intent=prep.intent,
                allowed=allowed,
                reasons=list(decision.get("reasons") or []),
                request={**jsonable(request), "dry_run": not create},
                inputs={
                    "context": jsonable(gathered.context),
                    "limits": self._limits_json,
                    "decision": jsonable(decision),
                },
            )
            if create:
                self._apply_breakers(s, state, bot, decision_obj, decision, now)
            if not (create and allowed):
                return decision, audit_id, None
            if gathered.position_id is None:
                position_repo.create_position(s, bot.id, bot.pair, self._mode, now)
            client_order_id = str(uuid.uuid4())
            trade_id = trade_repo.insert_pending(
                s,
                bot_id=bot.id,
                mode=self._mode,
                side=prep.side,
                intent=prep.intent,
                pair=prep.pair,
                client_order_id=client_order_id,
                requested_quote_size=prep.quote_size,
                requested_base_size=prep.base_size,
                signal_snapshot=jsonable(extras.get("signal_snapshot")),
                confirmation_snapshot=jsonable(extras.get("confirmation_snapshot")),
                temperature=temperature,
                safety_audit_id=audit_id,
                next_sync_at=now + timedelta(seconds=SEND_GRACE_SECONDS),
                now=now,
            )
            return decision, audit_id, (trade_id, client_order_id)

    def _apply_breakers(
        self,
        s: Session,
        state: Any,
        bot: BotFacts,
        decision_obj: Any,
        decision: dict[str, Any],
        now: datetime,
    ) -> None:
        reasons = (
            "; ".join(
                str(r.get("message", r) if isinstance(r, dict) else r) for r in decision.get("reasons") or []
            )
            or "circuit breaker"
        )
        if getattr(decision_obj, "engage_emergency_stop", False):
            if control_repo.engage_emergency(s, state, now=now, reason=f"circuit breaker: {reasons}"):
                control_repo.record_event(
                    s,
                    at=now,
                    action="emergency_stop",
                    actor="circuit_breaker",
                    mode=self._mode,
                    detail={"reasons": decision.get("reasons"), "bot_id": bot.id},
                )
        if getattr(decision_obj, "pause_bot", False) and bot.status != BotStatus.PAUSED:
            s.execute(
                sa.update(Bot)
                .where(Bot.id == bot.id)
                .values(
                    status=BotStatus.PAUSED,
                    status_reason=f"paused by safety: {reasons}"[:500],
                    updated_at=now,
                )
            )
            control_repo.record_event(
                s,
                at=now,
                action="bot_paused",
                actor="circuit_breaker",
                mode=self._mode,
                detail={"reasons": decision.get("reasons"), "bot_id": bot.id},
            )

    def _send(self, trade_id: int, client_order_id: str, prep: _Prepared) -> None:
        """Place the order of the committed PENDING trade (the same values it was stored with)."""
        request = OrderRequest(client_order_id, prep.pair, prep.side, prep.quote_size, prep.base_size)
        self._orders.send(trade_id, request, unknown="order outcome unknown")
