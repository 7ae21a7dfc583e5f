"""Filling the paper book's due orders: when an OPEN mock order fills, and at what price.

Split out of ``paper.py`` (placing, reading and cancelling stay there): an OPEN order whose
``fill_due_at`` has passed is filled at the market price of the moment it is processed, or
failed when the market has no price for it (it stays OPEN while the market is unavailable).
Each fill is one transaction that claims the order first, so two callers cannot fill it twice.
The attributes are set by :class:`coinpilot.exchange.paper.PaperExchange`'s constructor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.exchange_values import ExchangeOrderStatus
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.exchange.base import ExchangeError, ExchangeUnavailable, MarketData
from coinpilot.exchange.paper_booking import apply_fill
from coinpilot.exchange.paper_queries import OPEN, claim_open, fresh_balances
from coinpilot.store.db import session_scope
from coinpilot.store.models import PaperOrder

# The logger of the paper exchange, as before the split (its warnings keep their source name).
log = logging.getLogger("coinpilot.exchange.paper")
T = TypeVar("T")


class PaperFilling:
    """Fills due OPEN paper orders (base of :class:`~coinpilot.exchange.paper.PaperExchange`)."""

    _sf: sessionmaker[Session]
    _clock: Clock
    market: MarketData
    fee_rate: Decimal
    slippage: Decimal

    def process_due(self) -> int:
        """Fill every OPEN order whose ``fill_due_at`` has passed; returns how many were done."""
        now = self._clock.now()
        with session_scope(self._sf) as s:
            due = s.scalars(
                sa.select(PaperOrder.order_id)
                .where(PaperOrder.status == OPEN, PaperOrder.fill_due_at <= now)
                .order_by(PaperOrder.created_at)
            ).all()
        return sum(1 for oid in due if self._fill(oid))

    def _fill(self, order_id: str) -> bool:
        """Fill (or fail) one due OPEN order. Returns False if someone else got there first."""
        now = self._clock.now()
        with session_scope(self._sf) as s:
            o = s.get(PaperOrder, order_id)
            if o is None or o.status != OPEN or o.fill_due_at > now:
                return False
            pair = o.pair
        try:  # network-ish calls outside any transaction
            product = self.market.get_product(pair)
            quote = self.market.get_best_bid_ask([pair])[pair]
        except ExchangeUnavailable as exc:
            log.warning("paper order %s stays OPEN: no price yet (%s)", order_id, exc)
            return False
        except (ExchangeError, KeyError) as exc:
            reason = f"no market price for {pair}: {exc}"
            return self._retry_integrity(lambda: self._finish(order_id, now, failure=reason))
        return self._retry_integrity(lambda: self._finish(order_id, now, product=product, quote=quote))

    def _finish(
        self,
        order_id: str,
        now: datetime,
        *,
        product: Product | None = None,
        quote: BestBidAsk | None = None,
        failure: str | None = None,
    ) -> bool:
        with session_scope(self._sf) as s:
            o = claim_open(s, order_id, ExchangeOrderStatus.FILLED)
            if o is None:
                return False
            bal = fresh_balances(s, o.pair.split("-", 1))
            apply_fill(
                s,
                o,
                bal,
                now,
                slippage=self.slippage,
                fee_rate=self.fee_rate,
                product=product,
                quote=quote,
                failure=failure,
            )
            return True

    def _due_first(self, order_ids: Sequence[str]) -> None:
        now = self._clock.now()
        with session_scope(self._sf) as s:
            due = s.scalars(
                sa.select(PaperOrder.order_id).where(
                    PaperOrder.order_id.in_(list(order_ids)),
                    PaperOrder.status == OPEN,
                    PaperOrder.fill_due_at <= now,
                )
            ).all()
        for oid in due:
            self._fill(oid)

    @staticmethod
    def _retry_integrity(fn: Callable[[], T], attempts: int = 3) -> T:
        for i in range(attempts):
            try:
                return fn()
            except IntegrityError:
                if i == attempts - 1:
                    raise
        raise AssertionError("unreachable")
