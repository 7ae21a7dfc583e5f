"""The daily loss rule, as an equity drawdown: realised P&L today plus what the open positions
would lose if sold at the bid now.

Realised P&L counts on the day of its fill, not of its settlement (a sell filled at 23:59 and
settled at 00:01 belongs to the day it was sold). Unrealised P&L of a position is
``size * bid - cost``; a position without a bid cannot be marked and is left out (the caller
says so), which can only make the rule trip later, never wrongly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DailyLoss", "daily_loss", "unrealised"]

ZERO = Decimal(0)


def unrealised(base_size: Decimal, cost: Decimal, bid: Decimal) -> Decimal:
    """What the position would gain (positive) or lose (negative) if sold at ``bid`` now."""
    return base_size * bid - cost


@dataclass(frozen=True)
class DailyLoss:
    realised_today: Decimal
    unrealised: Decimal
    limit: Decimal

    @property
    def total(self) -> Decimal:
        return self.realised_today + self.unrealised

    @property
    def reached(self) -> bool:
        """True when today's equity loss reached the limit (at the limit counts)."""
        return self.total <= -self.limit

    def describe(self) -> str:
        return (
            f"daily loss limit reached: realised today {self.realised_today:.2f} USD, unrealised "
            f"{self.unrealised:.2f} USD at the bid (total {self.total:.2f}, limit -{self.limit})"
        )


def daily_loss(
    realised_today: Decimal, marks: Iterable[tuple[Decimal, Decimal, Decimal]], limit: Decimal
) -> DailyLoss:
    """``marks``: (base size, cost, bid) of every open position that has a bid."""
    total = sum((unrealised(size, cost, bid) for size, cost, bid in marks if size > 0), ZERO)
    return DailyLoss(realised_today, total, limit)
