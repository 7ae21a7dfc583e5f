"""The request itself: one positive size, a price, an intent that fits the side."""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import I, Reason, SafetyContext, SafetyRequest
from coinpilot.domain.types import Side


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    out: list[Reason] = []
    quote, base = r.quote_size, r.base_size
    size = quote if base is None else base  # the one size, when exactly one is given
    if (quote is None) is (base is None) or size is None or size <= 0:
        out += reason("INVALID_SIZE", "Give exactly one positive size: a quote amount or a base amount.")
    if r.side is Side.SELL and r.base_size is None:
        out += reason("INVALID_SIZE", "A sell needs a base size (how much of the coin to sell).")
    if not r.price > 0:
        out += reason("NO_PRICE", "No current price for this pair; wait for market data and retry.")
    if r.side is Side.BUY and r.intent not in (I.ENTRY, I.MANUAL):
        out += reason("INVALID_INTENT", f"A buy cannot have intent {r.intent.value}.")
    if r.side is Side.SELL and r.intent is I.ENTRY:
        out += reason("INVALID_INTENT", "A sell cannot be an entry: Coinpilot does not short.")
    return out
