"""A buy leaves at least the reserved balance; an unknown balance refuses it (fail closed)."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    if r.is_exit:
        return None
    if c.quote_available is None:
        return reason("BALANCE_UNKNOWN", "The quote balance is unknown; retry when it is available.")
    left = c.quote_available - r.notional
    if left >= lim.min_reserved_balance_usd:
        return []
    return reason(
        "MIN_RESERVED_BALANCE",
        f"Only ${left:.2f} would remain; ${lim.min_reserved_balance_usd} must stay reserved. "
        "Deposit funds or buy less.",
    )
