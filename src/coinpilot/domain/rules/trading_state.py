"""The account's trading state: ACTIVE allows all, REDUCING sells only, HALTED only a
person's emergency close (:mod:`coinpilot.domain.trading_state`)."""

from __future__ import annotations

from coinpilot.domain import trading_state
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules.base import reason
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest


def check(r: SafetyRequest, c: SafetyContext, lim: SafetyLimits) -> list[Reason] | None:
    refused = trading_state.refusal(c.trading_state, r.side, r.intent)
    return [] if refused is None else reason(*refused)
