"""The values the order sync works with: a trade as it reads it, the report of a pass, the
back-off and the bounds after which an unsent or stuck trade is given up or marked.

Kept apart from :mod:`coinpilot.engine.orders.sync` (the passes) and :mod:`coinpilot.engine.orders.unsent`
(orders without an answer), which both use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from coinpilot.domain.types import Side, TradeIntent, TradeStatus
from coinpilot.exchange.base import ExchangeError

Approver = Callable[["TradeView"], "str | None"]  # None: approved now; else why not
DEFAULT_RESEND_MAX_AGE_SECONDS = 30.0
ADOPT_WINDOW = timedelta(minutes=15)  # how long a "not sent" trade is watched for its order

BACKOFF_START_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 10.0
ATTENTION_AFTER_TRIES = 40  # about 6 minutes of capped back-off
ATTENTION_AFTER = timedelta(minutes=15)
ATTENTION_POLL_SECONDS = 60.0  # a trade needing attention is still looked at, slowly

AfterSettlement = Callable[[], object]


def backoff_delay(attempts: int) -> float:
    """Delay before the next poll after ``attempts`` polls: 0.25, 0.5, 1, 2 … capped at 10 s."""
    return float(min(BACKOFF_START_SECONDS * (2 ** min(attempts, 20)), BACKOFF_CAP_SECONDS))


@dataclass(frozen=True)
class TradeView:
    """What the sync needs to know about a trade, read outside any lock."""

    id: int
    status: TradeStatus
    order_id: str | None
    client_order_id: str
    pair: str
    side: Side
    quote_size: Decimal | None
    base_size: Decimal | None
    bot_id: int = 0
    intent: TradeIntent = TradeIntent.MANUAL
    created_at: datetime | None = None
    do_not_send: bool = False


@dataclass
class SyncReport:
    checked: int = 0
    opened: int = 0
    settled: int = 0
    failed: int = 0
    closed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "opened": self.opened,
            "settled": self.settled,
            "failed": self.failed,
            "closed": self.closed,
            "waiting": self.waiting,
            "errors": list(self.errors),
        }


def describe(exc: BaseException) -> str:
    if isinstance(exc, ExchangeError):
        return f"{exc.code}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
