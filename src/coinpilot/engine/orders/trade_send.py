"""The last step of an order (step 4 of :mod:`coinpilot.engine.orders.execution`): send it, and
say in plain words what happens when the exchange's answer is not final.

By now the trade row is committed PENDING with a fresh client_order_id, so a send whose outcome
is unknown is never lost: the order sync replays it later with the same id (placed at most once).
A manual order has a person waiting: every exchange call made for it tries once, so the answer
comes within about one client timeout; the order sync makes any later attempts in the background.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.types import TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.orders.trade_intake import PreparedTrade
from coinpilot.exchange.base import Exchange
from coinpilot.store.db import read_session
from coinpilot.store.repos.dto import TradeDTO, read_trade_dto


def pending_next_step(trade: TradeDTO | None) -> str | None:
    """For an answer that is not final: what Coinpilot does next, in plain words."""
    if trade is None or trade.status != TradeStatus.PENDING.value:
        return None
    return (
        f"Trade {trade.id} is PENDING: the exchange did not confirm the order in time "
        f"({trade.last_error or 'no answer'}). Coinpilot keeps checking in the background with the "
        f"same client_order_id {trade.client_order_id}, so the order is placed at most once; follow "
        f"it at GET /api/v1/trades/{trade.id} or with 'coinpilot trades'."
    )


class TradeSender:
    """Sends the committed PENDING trades of one mode through its order sync, and reads them back."""

    def __init__(
        self, session_factory: sessionmaker[Session], exchange: Exchange, orders: OrderSync, mode: TradingMode
    ) -> None:
        self._sf = session_factory
        self._exchange = exchange
        self._orders = orders
        self._mode = mode

    def attempts_for(self, intent: TradeIntent | str) -> AbstractContextManager[None]:
        """One attempt per exchange call for a manual order (someone is waiting), else the
        client's usual retries."""
        single = getattr(self._exchange, "single_attempt", None)
        if single is not None and intent == TradeIntent.MANUAL:
            return single()  # type: ignore[no-any-return]
        return nullcontext()

    def get_trade(self, trade_id: int) -> TradeDTO | None:
        """The trade, if it is one of this mode's."""
        with read_session(self._sf) as s:
            dto = read_trade_dto(s, trade_id)
        return dto if dto is not None and dto.mode == self._mode.value else None

    def send(self, trade_id: int, client_order_id: str, prep: PreparedTrade) -> None:
        """Place the order of the committed PENDING trade (the same values it was stored with).

        A manual order is answered to someone waiting: one attempt only (one client timeout);
        if its outcome is unknown the order sync makes the later attempts in the background,
        with the same client_order_id."""
        request = OrderRequest(
            client_order_id,
            prep.request.pair,
            prep.request.side,
            prep.request.quote_size,
            prep.request.base_size,
        )
        with self.attempts_for(prep.request.intent):
            self._orders.send(trade_id, request, unknown="order outcome unknown")
