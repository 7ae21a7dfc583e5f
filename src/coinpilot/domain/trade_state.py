"""The trade life cycle as a state machine: which status changes are legal, and how Coinbase
order statuses map onto ours.

PENDING (row committed with its client_order_id, not acknowledged) -> OPEN (exchange accepted,
order_id known) -> FILLED (fully filled, fills recorded) -> SETTLED (position and P&L updated).
FAILED, CANCELLED and EXPIRED are terminal. Shortcuts: PENDING -> FILLED (reconcile finds the
order already done), PENDING/OPEN -> CANCELLED/EXPIRED/FAILED. A CANCELLED or EXPIRED order may
carry partial fills; the engine applies them to the position and the trade keeps its status.
A same-state transition is an allowed no-op, so repeated order syncs are idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from coinpilot.domain.types import TradeStatus

__all__ = [
    "ALLOWED_TRANSITIONS",
    "IllegalTransition",
    "adopt",
    "can_transition",
    "status_from_exchange",
    "transition",
]

_T = TradeStatus


class IllegalTransition(ValueError):
    """A status change the trade life cycle does not allow."""

    def __init__(self, current: TradeStatus, new: TradeStatus) -> None:
        super().__init__(f"illegal trade status transition {current.value} -> {new.value}")
        self.current = current
        self.new = new


# Transitions to a *different* state. Same-state is always allowed (see can_transition).
ALLOWED_TRANSITIONS: Mapping[TradeStatus, frozenset[TradeStatus]] = MappingProxyType(
    {
        _T.PENDING: frozenset({_T.OPEN, _T.FILLED, _T.CANCELLED, _T.EXPIRED, _T.FAILED}),
        _T.OPEN: frozenset({_T.FILLED, _T.CANCELLED, _T.EXPIRED, _T.FAILED}),
        _T.FILLED: frozenset({_T.SETTLED}),
        _T.SETTLED: frozenset(),
        _T.FAILED: frozenset(),
        _T.CANCELLED: frozenset(),
        _T.EXPIRED: frozenset(),
    }
)


def adopt(current: TradeStatus) -> TradeStatus:
    """FAILED -> OPEN, for one case only: a trade that ended FAILED as "not sent" (its order
    was never found) whose order later turns up on the exchange. The exchange's order is the
    truth, so the trade follows it again. Every other FAILED trade stays final."""
    if current is not _T.FAILED:
        raise IllegalTransition(current, _T.OPEN)
    return _T.OPEN


def can_transition(current: TradeStatus, new: TradeStatus) -> bool:
    """True when ``current -> new`` is legal; a same-state transition is a legal no-op."""
    return current == new or new in ALLOWED_TRANSITIONS[current]


def transition(current: TradeStatus, new: TradeStatus) -> TradeStatus:
    """Return ``new`` if the change is legal, else raise :class:`IllegalTransition`."""
    if not can_transition(current, new):
        raise IllegalTransition(current, new)
    return new


# Coinbase statuses that mean "not finished yet: keep polling".
_STILL_WORKING = frozenset({"PENDING", "OPEN", "QUEUED", "CANCEL_QUEUED", "UNKNOWN_ORDER_STATUS"})
_FINISHED = {
    "FILLED": _T.FILLED,
    "CANCELLED": _T.CANCELLED,
    "EXPIRED": _T.EXPIRED,
    "FAILED": _T.FAILED,
}


def status_from_exchange(exchange_status: str, filled_base: Decimal) -> TradeStatus:
    """Map a Coinbase order status onto our :class:`TradeStatus`.

    PENDING, QUEUED, OPEN, CANCEL_QUEUED and UNKNOWN_ORDER_STATUS (or any status we do not know)
    map to OPEN: the order is not known to be finished, so the engine keeps polling rather than
    guessing. A FAILED order that nevertheless reports filled base is mapped to CANCELLED so its
    partial fills are applied to the position instead of being lost.
    """
    if filled_base < 0:
        raise ValueError(f"filled_base must not be negative, got {filled_base}")
    key = exchange_status.strip().upper()
    if key in _STILL_WORKING:
        return _T.OPEN
    status = _FINISHED.get(key)
    if status is None:
        return _T.OPEN
    if status is _T.FAILED and filled_base > 0:
        return _T.CANCELLED
    return status
