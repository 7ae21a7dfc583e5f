"""Start-up warm-up of the order path, so the first order after a restart costs what the others do.

SQLAlchemy compiles each statement once per database engine and keeps it in that engine's cache;
the first order of a process used to compile the ~20 statements of the order path inside the
order (measured ~50 ms CPU of a ~106 ms first order, against ~12 ms for the others). Start-up
(``runtime/startup.py``) runs this before trading is released: one complete manual-sized entry
through the real :class:`TradeService` path — input check, locked safety check, audit row,
PENDING row, "do not send?" check, acknowledgement, the answer read back — inside ONE outer
transaction that is always rolled back. Nothing stays written; the exchange is a local stand-in
that answers from made-up values, so nothing reaches any exchange (no quote, no balance read, no
order). On PostgreSQL the id sequences of the audit and trade rows advance (sequences are not
transactional): ids skip a number at each start, no row is missing.

Then, when the process froze its start-up objects (``gc.freeze`` in the server), what the warm-up
built (the compiled statements) is frozen with them, so full collections do not walk it.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.exchange_values import Balance, OrderAck, OrderRequest
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.types import BotStatus, Side, TradeIntent
from coinpilot.engine.orders.execution import TradeService
from coinpilot.store.models import Bot

log = logging.getLogger("coinpilot.engine")

_PRICE = Decimal("100")
_PLENTY = Decimal("1000000000")
_QUOTE_SIZE = Decimal("1")  # the stand-in product's minimum


class _StandInExchange:
    """Answers the order path's exchange calls from made-up values; reaches no exchange."""

    def __init__(self, mode: Any, clock: Clock) -> None:
        self.mode = mode
        self._clock = clock
        self.orders = 0

    def get_product(self, pair: str) -> Product:
        base, _, quote = pair.partition("-")
        tiny = Decimal("0.00000001")
        return Product(pair, base, quote or "USD", tiny, Decimal("0.01"), tiny, Decimal("1"), price=_PRICE)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        return {p: BestBidAsk(p, _PRICE, _PRICE, self._clock.now()) for p in pairs}

    def get_balances(self, currencies: Sequence[str] | None = None) -> dict[str, Balance]:
        return {c: Balance(c, _PLENTY) for c in currencies or ()}

    def place_market_order(self, request: OrderRequest) -> OrderAck:
        self.orders += 1
        return OrderAck(
            f"warm-up-{request.client_order_id}", request.client_order_id, request.pair, request.side
        )

    def __getattr__(self, name: str) -> Any:  # anything else is a call the warm-up must not make
        raise AttributeError(f"the start-up warm-up does not call the exchange's {name}")


class _InsideSession(Session):
    """A session joined to the warm-up's outer transaction. Reads that would switch their
    connection to autocommit (``read_session`` on PostgreSQL) stay inside it instead: the outer
    transaction must roll back everything, and isolation does not change a compiled statement."""

    def connection(self, bind_arguments: Any = None, execution_options: Any = None) -> Any:
        options = {k: v for k, v in (execution_options or {}).items() if k != "isolation_level"}
        return super().connection(bind_arguments, options or None)


def _warm_bot(s: Session) -> tuple[int, TradeIntent] | None:
    """A bot to price the made-up entry for, RUNNING first, and the intent its status allows
    (an engine entry needs a RUNNING bot; a manual buy is allowed for any status)."""
    row = s.execute(
        sa.select(Bot.id, Bot.status).order_by((Bot.status != BotStatus.RUNNING), Bot.id).limit(1)
    ).first()
    if row is None:
        return None
    return row[0], TradeIntent.ENTRY if row[1] == BotStatus.RUNNING else TradeIntent.MANUAL


def warm_order_path(trades: TradeService, sessions: sessionmaker[Session], clock: Clock) -> bool:
    """Run one made-up entry through the order path in a rolled-back transaction (module doc).

    Returns True when it reached the acknowledgement. Never raises: a failed warm-up only means
    the first order compiles its statements itself, so it is logged and trading starts as usual.
    """
    try:
        with sessions() as probe:
            picked = _warm_bot(probe)
        if picked is None:  # no bot yet: nothing can order; the first order compiles itself
            return False
        bot_id, intent = picked
        engine = sessions.kw["bind"]
        with engine.connect() as conn:
            outer = conn.begin()
            try:
                inside = sessionmaker(
                    bind=conn, class_=_InsideSession, join_transaction_mode="create_savepoint"
                )
                stand_in = _StandInExchange(trades.mode, clock)
                service = TradeService(inside, stand_in, clock, trades.mode, trades.limits)  # type: ignore[arg-type]
                result = service.execute(bot_id, Side.BUY, quote_size=_QUOTE_SIZE, intent=intent)
            finally:
                outer.rollback()
        warmed = result.trade is not None and stand_in.orders == 1
        if warmed:
            log.info("start-up: order path warmed up to the acknowledgement (rolled back)")
        else:  # e.g. trading disabled: the refusal's statements are warm, the PENDING row's are not
            reasons = [r.get("code") for r in result.decision.get("reasons") or []]
            log.info("start-up: order path warmed up to a refusal %s (rolled back)", reasons)
        return warmed
    except Exception:
        log.warning(
            "start-up: order path warm-up failed; the first order compiles its statements", exc_info=True
        )
        return False


def refreeze_start_up_objects() -> None:
    """If the process froze its start-up objects (the server does, before it serves), freeze what
    start-up built since (the warm-up's compiled statements, the engine's objects) too. Tests and
    tools that never froze are left alone: frozen objects are never collected."""
    if gc.get_freeze_count():
        gc.collect()
        gc.freeze()
