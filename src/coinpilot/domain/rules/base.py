"""What every rule shares: its signature and how it words a reason."""

from __future__ import annotations

from collections.abc import Callable

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety_types import Reason, SafetyContext, SafetyRequest

Check = Callable[[SafetyRequest, SafetyContext, SafetyLimits], list[Reason] | None]
# A check returns None when it does not apply to the request, else its reasons (empty = pass).


def reason(code: str, message: str) -> list[Reason]:
    """One reason, as the list a check returns."""
    return [Reason(code, message)]
