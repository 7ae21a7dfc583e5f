"""The account's trading state: what may be sent to the exchange right now, and who may change it.

Three states replace the old pair of switches (trading enabled, emergency stop), because two
booleans gave four combinations of which one meant "stop-losses are refused too" — exactly what a
circuit breaker must never cause:

- ``ACTIVE``: everything within the limits.
- ``REDUCING``: only risk-reducing sells (stop-loss, trailing stop, take-profit, signal exits,
  manual sells, emergency close); every buy is refused. The automatic breakers move here, so a
  breaker trip never switches off a bot's stop-loss.
- ``HALTED``: nothing is sent but a person's explicit emergency close (open orders can still be
  cancelled). A fresh install starts here ("not enabled yet").

Who may move it: an automatic breaker only ACTIVE -> REDUCING; only a person halts and only a
person activates. The one automatic way back is the exchange breaker's own recovery: a REDUCING
state that *it* set may return to ACTIVE after the exchange answered normally for a quiet period
(loss breakers always need a person).

The state belongs to one trading mode: activating it in mock mode does not activate production.
For any other mode than the one it was activated in, the effective state is HALTED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coinpilot.domain.types import Side, TradeIntent, TradingMode

__all__ = [
    "BREAKER_ACTORS",
    "EXCHANGE_BREAKER",
    "LOSS_BREAKER",
    "NOT_ENABLED_REASON",
    "TradingState",
    "TradingStatus",
    "breaker_target",
    "may_recover",
    "refusal",
]


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


NOT_ENABLED_REASON = "not enabled yet"
EXCHANGE_BREAKER = "exchange_breaker"
LOSS_BREAKER = "daily_loss_breaker"
BREAKER_ACTORS = frozenset({EXCHANGE_BREAKER, LOSS_BREAKER})


@dataclass(frozen=True)
class TradingStatus:
    """The persisted state with its reason, who set it and since when."""

    state: TradingState
    reason: str
    by: str
    since: datetime | None
    mode: TradingMode | None  # the mode it was activated in (None: never activated)

    def effective(self, mode: TradingMode) -> TradingState:
        """The state as seen by a process running in ``mode``."""
        if self.state is not TradingState.HALTED and self.mode != mode:
            return TradingState.HALTED
        return self.state


def refusal(state: TradingState, side: Side, intent: TradeIntent) -> tuple[str, str] | None:
    """Why ``state`` refuses an order of this side and intent: (code, message), or None."""
    if state is TradingState.ACTIVE:
        return None
    if state is TradingState.REDUCING:
        if side is Side.SELL:
            return None
        return (
            "TRADING_REDUCING",
            "Trading is REDUCING: only sells that reduce risk are sent, every buy is refused. "
            "A person sets it back to ACTIVE after reviewing why.",
        )
    if side is Side.SELL and intent is TradeIntent.EMERGENCY_CLOSE:
        return None
    return (
        "TRADING_HALTED",
        "Trading is HALTED: nothing is sent except a person's emergency close. "
        "Set it to REDUCING or ACTIVE to trade again.",
    )


def breaker_target(current: TradingState) -> TradingState | None:
    """Where an automatic breaker moves the state from ``current``: only ACTIVE -> REDUCING."""
    return TradingState.REDUCING if current is TradingState.ACTIVE else None


def may_recover(status: TradingStatus, breaker: str) -> bool:
    """May ``breaker`` move the state back to ACTIVE by itself? Only the exchange breaker, and
    only from a REDUCING state it set itself (a person's later choice always wins)."""
    return breaker == EXCHANGE_BREAKER and status.state is TradingState.REDUCING and status.by == breaker
