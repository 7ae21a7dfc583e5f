"""The first step of an order: is the request well formed, and what does the market say?

Runs before the trading lock so the lock stays short. A malformed request is audited and raised
as :class:`InvalidTradeRequest` (naming the field); missing market data is audited and refused
(fail closed). What passes becomes a :class:`PreparedTrade`: sizes rounded down to the product's
increments, the price the safety check will use, and the balances it will see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.exchange_values import Balance
from coinpilot.domain.market import Product
from coinpilot.domain.safety import SafetyRequest
from coinpilot.domain.types import Side, TradeIntent, TradingMode, quantize_down, to_decimal
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import read_session
from coinpilot.store.repos.audit import write_audit
from coinpilot.store.repos.dto import TradeDTO
from coinpilot.store.repos.jsonable import jsonable
from coinpilot.store.repos.snapshot import bot_facts

log = logging.getLogger(__name__)


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
    next_step: str | None = None  # what happens next when the answer is not final (PENDING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "decision": jsonable(self.decision),
            "audit_id": self.audit_id,
            "trade": self.trade.to_dict() if self.trade else None,
            "next_step": self.next_step,
        }


@dataclass(frozen=True)
class PreparedTrade:
    """A well-formed request priced for the safety check, with what the market said."""

    request: SafetyRequest
    product: Product
    balances: dict[str, Balance]
    balances_read_at: datetime  # taken just before the read (see ``gather_context``)
    # A full exit asked for more than the account holds by one increment or more: what it says.
    drift: str | None = None


# Exits that sell the whole position: they sell what the account really holds when that is less.
FULL_EXITS = frozenset(
    {TradeIntent.STOP_LOSS, TradeIntent.TRAILING_STOP, TradeIntent.SIGNAL_EXIT, TradeIntent.EMERGENCY_CLOSE}
)


def fit_full_exit(size: Decimal, available: Decimal, increment: Decimal) -> tuple[Decimal, str | None]:
    """The size a full exit can sell: the smaller of ``size`` (the position, on the increment)
    and what the account holds (on the increment). A difference of one increment or more is
    drift between the position and the account: reported, never a reason to skip the stop."""
    held = quantize_down(available, increment)
    if held >= size:
        return size, None
    if size - available < increment:
        return held, None
    return held, (
        f"drift: the position says {size} but the account holds {available}; selling {held}. "
        "Check for trades made outside Coinpilot."
    )


def refusal(code: str, message: str) -> dict[str, Any]:
    """A Decision-shaped refusal for failures outside ``safety.validate`` (fail closed)."""
    return {
        "allowed": False,
        "reasons": [{"code": code, "message": message}],
        "checks": [],
        "reduce_trading": False,
    }


class TradeIntake:
    def __init__(
        self, session_factory: sessionmaker[Session], exchange: Exchange, clock: Clock, mode: TradingMode
    ) -> None:
        self._sf = session_factory
        self._exchange = exchange
        self._clock = clock
        self._mode = mode
        # A bot's pair never changes, so it is read once; the locked check re-reads the bot and
        # the caller starts over (``forget``) if the id now names another bot.
        self.pairs: dict[int, str] = {}

    def forget(self, bot_id: int) -> None:
        self.pairs.pop(bot_id, None)

    def prepare(
        self,
        bot_id: int,
        side: Side | str,
        quote_size: object,
        base_size: object,
        intent: TradeIntent | str,
        raw: dict[str, Any],
    ) -> PreparedTrade | ExecutionResult:
        """Input checks (raise InvalidTradeRequest) and market inputs (refuse if unavailable)."""
        is_id = isinstance(bot_id, int) and not isinstance(bot_id, bool)
        pair = self.pairs.get(bot_id) if is_id else None
        if pair is None and is_id:
            with read_session(self._sf) as s:
                bot = bot_facts(s, bot_id)
            if bot is not None:
                pair = self.pairs[bot_id] = bot.pair
        if pair is None:
            self.audit_invalid(raw, None, "bot_id", f"no bot with id {bot_id!r}")
        known_bot = bot_id
        try:
            side_v = Side(side)
        except ValueError:
            self.audit_invalid(raw, known_bot, "side", f"must be 'buy' or 'sell', not {side!r}")
        try:
            intent_v = TradeIntent(intent)
        except ValueError:
            self.audit_invalid(raw, known_bot, "intent", f"unknown intent {intent!r}")
        if (quote_size is None) == (base_size is None):
            self.audit_invalid(raw, known_bot, "size", "give exactly one of quote_size / base_size")
        field = "quote_size" if quote_size is not None else "base_size"
        try:
            size = to_decimal(quote_size if quote_size is not None else base_size, field)
        except ValueError as exc:
            self.audit_invalid(raw, known_bot, field, str(exc).split(": ", 1)[-1])
        if size <= 0:
            self.audit_invalid(raw, known_bot, field, f"must be positive, got {size}")
        try:
            product = self._exchange.get_product(pair)
        except Exception as exc:
            return self._refuse_early(
                raw, known_bot, side_v, intent_v, f"could not read product {pair}: {exc}"
            )
        increment = product.quote_increment if field == "quote_size" else product.base_increment
        minimum = product.quote_min_size if field == "quote_size" else product.base_min_size
        sized = quantize_down(size, increment)
        if sized <= 0 or sized < minimum:
            self.audit_invalid(
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
            balances_read_at = self._clock.now()
            balances = self._exchange.get_balances([product.base_currency, product.quote_currency])
        except Exception as exc:
            message = f"could not read price or balances for {pair}: {exc}"
            return self._refuse_early(raw, known_bot, side_v, intent_v, message)
        drift = None
        held = balances.get(product.base_currency)
        if field == "base_size" and side_v is Side.SELL and intent_v in FULL_EXITS and held is not None:
            sized, drift = fit_full_exit(sized, held.available, product.base_increment)
            if drift:
                log.warning("bot %s %s: %s", bot_id, intent_v.value, drift)
        return PreparedTrade(
            drift=drift,
            request=SafetyRequest(
                bot_id=bot_id,
                pair=pair,
                side=side_v,
                intent=intent_v,
                quote_size=sized if field == "quote_size" else None,
                base_size=sized if field == "base_size" else None,
                price=price,
            ),
            product=product,
            balances=balances,
            balances_read_at=balances_read_at,
        )

    def audit_invalid(self, raw: dict[str, Any], bot_id: int | None, field: str, message: str) -> NoReturn:
        """Audit the malformed request, then raise ``InvalidTradeRequest``.

        The bot's pair may come from the cache while the bot itself is gone: then the audit row
        cannot name it, and the request is refused as one for an unknown bot."""
        try:
            self._write_invalid(raw, bot_id, field, message)
        except IntegrityError:
            if bot_id is None:
                raise
            self.forget(bot_id)
            field, message = "bot_id", f"no bot with id {bot_id!r}"
            self._write_invalid(raw, None, field, message)
        raise InvalidTradeRequest(field, message)

    def _write_invalid(self, raw: dict[str, Any], bot_id: int | None, field: str, message: str) -> None:
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

    def _refuse_early(
        self, raw: dict[str, Any], bot_id: int | None, side: Side, intent: TradeIntent, message: str
    ) -> ExecutionResult:
        """Refuse (and audit) a request the market cannot price: fail closed."""
        decision = refusal("market_data_unavailable", message)
        try:
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
        except IntegrityError:  # the bot of a cached pair is gone
            if bot_id is None:
                raise
            self.forget(bot_id)
            self.audit_invalid(raw, None, "bot_id", f"no bot with id {bot_id!r}")
        return ExecutionResult(False, decision, audit_id, None)
