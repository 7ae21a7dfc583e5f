"""The decision kernel: pure functions that advance :mod:`coinpilot.domain.state` and decide.

Every driver calls the same functions; they differ only in where the state lives and where
quotes and the clock come from (the live engine: the database and the exchange; the backtester:
memory and history). Nothing here reads a clock or does I/O.

Events, in the order a driver usually feeds them:

- :func:`roll_day`: counters reset at the UTC day (trades, realised today) and week (realised
  this week) boundary. Every other function that takes ``now`` rolls first.
- :func:`on_evaluation`: an evaluation's action advances the confirmation (restarted after a gap
  longer than the bot may go unobserved, :func:`coinpilot.domain.confirmation.max_unobserved`).
- :func:`on_quote`: the bid moves the high-water mark and marks the position (unrealised P&L,
  per bot and for the account).
- :func:`step`: at most one :class:`OrderIntent` for the bot now (wraps
  :func:`coinpilot.domain.decision.decide`); ``signal=None`` is the protection pass.
- :func:`safety_context` / :func:`approve`: what :func:`coinpilot.domain.safety.validate` judges
  the intent in, and its verdict.
- :func:`on_order_accepted` (safety allowed it, the trade exists), :func:`on_order_refused`,
  :func:`on_order_acknowledged` (the exchange has it), :func:`on_fill` (a trade's fills are
  applied: position, cycle, counters, realised P&L dated by fill time, loss lock),
  :func:`on_order_final` (it ended without further fills), :func:`on_order_needs_attention`.

Balances are the driver's: it sets :attr:`AccountState.balances` from its exchange
(:func:`with_balances`) before asking for an approval.
"""

from __future__ import annotations

from coinpilot.domain.kernel.days import roll_day
from coinpilot.domain.kernel.decide import (
    approve,
    daily_loss,
    order_value,
    refresh_loss_lock,
    request_of,
    safety_context,
    step,
    view_of,
    with_balances,
)
from coinpilot.domain.kernel.events import (
    dust_threshold,
    on_evaluation,
    on_fill,
    on_order_accepted,
    on_order_acknowledged,
    on_order_final,
    on_order_needs_attention,
    on_order_refused,
    on_quote,
    resumed,
)
from coinpilot.domain.state import OrderIntent

__all__ = [
    "OrderIntent",
    "approve",
    "daily_loss",
    "dust_threshold",
    "on_evaluation",
    "on_fill",
    "on_order_accepted",
    "on_order_acknowledged",
    "on_order_final",
    "on_order_needs_attention",
    "on_order_refused",
    "on_quote",
    "order_value",
    "refresh_loss_lock",
    "request_of",
    "resumed",
    "roll_day",
    "safety_context",
    "step",
    "view_of",
    "with_balances",
]
