"""The order is within the product's minimum and maximum sizes.

Exits too: the exchange would refuse them on every retry otherwise.
"""

from __future__ import annotations

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    p = c.product
    if p is None:
        return None
    out: list[Reason] = []
    if r.notional < p.quote_min_size:
        out += reason(
            "BELOW_PRODUCT_MINIMUM",
            f"The order of about ${r.notional:.2f} is below {r.pair}'s minimum order of "
            f"${p.quote_min_size}; trade a larger amount.",
        )
    if r.base_size is not None and r.base_size < p.base_min_size:
        out += reason(
            "BELOW_PRODUCT_MINIMUM",
            f"The size {r.base_size} is below {r.pair}'s minimum base size {p.base_min_size}.",
        )
    if p.quote_max_size is not None and r.quote_size is not None and r.quote_size > p.quote_max_size:
        out += reason(
            "ABOVE_PRODUCT_MAXIMUM",
            f"The pair {r.pair} accepts at most ${p.quote_max_size} per order; trade less.",
        )
    if p.base_max_size is not None and r.base_size is not None and r.base_size > p.base_max_size:
        out += reason(
            "ABOVE_PRODUCT_MAXIMUM",
            f"The pair {r.pair} accepts at most {p.base_max_size} base per order; sell in parts.",
        )
    return out
