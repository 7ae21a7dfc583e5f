"""Gradual risk escalation: production starts at canary caps and earns its way up, one step at a time.

Why: the step from paper trading to full-size real orders is where an unseen bug costs the most.
So production begins with caps far below the configured limits (a few small trades a day) and
moves up a step only when

- the record at the current step is clean: at least ``settled_trades_to_advance`` settled
  trades, no failed order, no position drift, no circuit breaker since the step began; and
- a person approves it explicitly.

Any incident (a failed order, drift, a breaker) drops back one step and starts a new record.
The effective limits are the minimum of the configured limits and the step's caps, so a step can
only ever make the configured limits stricter. Mock mode is not escalated: paper money has
nothing to protect, and its results are what earns confidence in the first place.

Pure: the store supplies the current step and its record; the engine applies the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from coinpilot.domain.limits import SafetyLimits

D = Decimal


@dataclass(frozen=True)
class EscalationStep:
    number: int  # 1 = canary
    name: str
    # Caps on top of the configured limits; None: the configured limit applies unchanged.
    max_trade_usd: Decimal | None
    max_daily_trades: int | None
    max_position_usd_per_bot: Decimal | None
    max_total_exposure_usd: Decimal | None
    # Settled trades with a clean record at this step before the next may be approved.
    settled_trades_to_advance: int

    def to_dict(self) -> dict[str, Any]:
        def fmt(v: Decimal | int | None) -> str | int | None:
            return format(v, "f") if isinstance(v, Decimal) else v

        return {
            "number": self.number,
            "name": self.name,
            "max_trade_usd": fmt(self.max_trade_usd),
            "max_daily_trades": self.max_daily_trades,
            "max_position_usd_per_bot": fmt(self.max_position_usd_per_bot),
            "max_total_exposure_usd": fmt(self.max_total_exposure_usd),
            "settled_trades_to_advance": self.settled_trades_to_advance,
        }


LADDER: tuple[EscalationStep, ...] = (
    EscalationStep(1, "canary", D(10), 3, D(20), D(30), 5),
    EscalationStep(2, "small", D(25), 10, D(75), D(150), 10),
    EscalationStep(3, "medium", D(50), 20, D(200), D(500), 20),
    EscalationStep(4, "configured", None, None, None, None, 0),
)


@dataclass(frozen=True)
class StepRecord:
    """What happened since the current step began."""

    settled_trades: int = 0
    failed_orders: int = 0
    drift_incidents: int = 0
    breaker_trips: int = 0

    @property
    def incidents(self) -> int:
        return self.failed_orders + self.drift_incidents + self.breaker_trips

    def to_dict(self) -> dict[str, int]:
        return {
            "settled_trades": self.settled_trades,
            "failed_orders": self.failed_orders,
            "drift_incidents": self.drift_incidents,
            "breaker_trips": self.breaker_trips,
        }


@dataclass(frozen=True)
class EscalationStatus:
    step: EscalationStep
    record: StepRecord
    next_step: EscalationStep | None  # None at the top
    missing: tuple[str, ...]  # what the record still lacks before approval (empty: approvable)

    @property
    def can_approve(self) -> bool:
        return self.next_step is not None and not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.to_dict(),
            "record": self.record.to_dict(),
            "next_step": self.next_step.to_dict() if self.next_step else None,
            "missing": list(self.missing),
            "can_approve": self.can_approve,
        }


class EscalationRefused(ValueError):
    """Approval asked for while the record is not clean enough; ``missing`` says what is lacking."""

    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__("; ".join(missing))
        self.missing = missing


def step_of(number: int, ladder: tuple[EscalationStep, ...] = LADDER) -> EscalationStep:
    """The step with this number, clamped to the ladder (a stored step past the top is the top)."""
    return ladder[min(max(number, 1), len(ladder)) - 1]


def _cap(configured: Decimal, cap: Decimal | None) -> Decimal:
    return configured if cap is None else min(configured, cap)


def _cap_int(configured: int, cap: int | None) -> int:
    return configured if cap is None else min(configured, cap)


def effective_limits(limits: SafetyLimits, step: EscalationStep) -> SafetyLimits:
    """The configured limits, each lowered to the step's cap where the step has one."""
    daily = _cap_int(limits.max_daily_trades, step.max_daily_trades)
    return replace(
        limits,
        max_trade_usd=_cap(limits.max_trade_usd, step.max_trade_usd),
        max_daily_trades=daily,
        max_daily_trades_per_bot=min(limits.max_daily_trades_per_bot, daily),
        max_position_usd_per_bot=_cap(limits.max_position_usd_per_bot, step.max_position_usd_per_bot),
        max_total_exposure_usd=_cap(limits.max_total_exposure_usd, step.max_total_exposure_usd),
    )


def status(number: int, record: StepRecord, ladder: tuple[EscalationStep, ...] = LADDER) -> EscalationStatus:
    """Where escalation stands and what the next step requires."""
    step = step_of(number, ladder)
    next_step = ladder[step.number] if step.number < len(ladder) else None
    missing: list[str] = []
    if next_step is None:
        missing.append("already at the top step: the configured limits apply")
    else:
        if record.settled_trades < step.settled_trades_to_advance:
            missing.append(
                f"{step.settled_trades_to_advance - record.settled_trades} more settled trade(s) "
                f"at this step (have {record.settled_trades} of {step.settled_trades_to_advance})"
            )
        if record.failed_orders:
            missing.append(f"{record.failed_orders} failed order(s) at this step")
        if record.drift_incidents:
            missing.append(f"{record.drift_incidents} position drift incident(s) at this step")
        if record.breaker_trips:
            missing.append(f"{record.breaker_trips} circuit breaker trip(s) at this step")
    return EscalationStatus(step, record, next_step, tuple(missing))


def approve(number: int, record: StepRecord, ladder: tuple[EscalationStep, ...] = LADDER) -> int:
    """The next step's number, if the record allows it; else :class:`EscalationRefused`."""
    current = status(number, record, ladder)
    if not current.can_approve or current.next_step is None:
        raise EscalationRefused(current.missing)
    return current.next_step.number


def after_incident(number: int, record: StepRecord, ladder: tuple[EscalationStep, ...] = LADDER) -> int:
    """The step to be at given the record: one step down when anything went wrong (never below 1)."""
    step = step_of(number, ladder)
    if record.incidents == 0:
        return step.number
    return max(1, step.number - 1)
