"""The risk rules ``safety.validate`` runs, one per module (freqtrade's protections are the model).

Each rule is a pure function ``check(request, context, limits)`` that returns None when it does
not apply to the request, else its reasons (an empty list passes). ``CHECKS`` is the order the
safety check runs them in and the names its decision lists. The policy they implement together
is written once, in the docstring of :mod:`coinpilot.domain.safety`; the context they judge is
built from the kernel's state by :func:`coinpilot.domain.kernel.safety_context`.
"""

from __future__ import annotations

from coinpilot.domain.rules import (
    bot_status,
    cooldown,
    daily_counts,
    daily_loss,
    daily_position_loss,
    exposure,
    holdings,
    loss_streak,
    open_trade,
    position_limit,
    product,
    product_minimums,
    request,
    reserve,
    temperature,
    trade_size,
    trading_state,
    tranches,
    weekly_loss,
)
from coinpilot.domain.rules.base import Check

__all__ = ["CHECKS", "Check"]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("request", request.check),
    ("trading_state", trading_state.check),
    ("bot_status", bot_status.check),
    ("open_trade", open_trade.check),
    ("product", product.check),
    ("product_minimums", product_minimums.check),
    ("trade_size", trade_size.check),
    ("daily_loss", daily_loss.check),
    ("daily_counts", daily_counts.check),
    ("cooldown", cooldown.check),
    ("tranches", tranches.check),
    ("position", position_limit.check),
    ("exposure", exposure.check),
    ("consecutive_losses", loss_streak.check),
    ("daily_position_loss", daily_position_loss.check),
    ("weekly_loss", weekly_loss.check),
    ("reserve", reserve.check),
    ("temperature", temperature.check),
    ("holdings", holdings.check),
)
