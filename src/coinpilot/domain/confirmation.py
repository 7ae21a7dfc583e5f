"""Confirmation: a BUY or SELL must persist for a required time before the bot acts on it.

Pure functions; "now" is always an argument (from the injected clock). The state is just the
action being confirmed and since when (persisted as ``bot_runtime.confirm_action`` /
``confirm_since``), so it survives restarts.

Rules, applied by :func:`advance` on every evaluation:

* HOLD clears the state (nothing is being confirmed).
* A BUY/SELL different from the state's action starts a new timer at ``now``.
* The same BUY/SELL keeps the timer; it is confirmed once ``now - since >= required``.
  A required duration of 0 confirms at once.
* If ``now`` is before ``since`` (clock moved back), elapsed time counts as 0: never early.
* A gap restarts it: when the bot was last observed (``last_seen``) longer than ``max_gap``
  ago — downtime, an error back-off, a forward clock jump — nobody saw the signal hold in
  between, so the state is cleared before the new action is fed. The engine's gap is
  :func:`max_unobserved`: twice the evaluation interval or one candle, whichever is larger.
  Starting a bot clears the state too (``engine/bots/control.py``), and so does a failed
  evaluation.

After an order is placed the engine calls :meth:`ConfirmationState.restarted` so a second order
needs a fresh, full confirmation period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from coinpilot.domain.clock import ensure_utc
from coinpilot.domain.evolve import build
from coinpilot.domain.types import Action


@dataclass(frozen=True)
class ConfirmationState:
    action: Action | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.action is Action.HOLD:
            raise ValueError("confirmation state holds BUY or SELL, never HOLD")
        if (self.action is None) != (self.since is None):
            raise ValueError("confirmation state needs both action and since, or neither")
        if self.since is not None:
            object.__setattr__(self, "since", ensure_utc(self.since))

    def restarted(self, now: datetime) -> ConfirmationState:
        """After an order: same action, timer restarted from ``now`` (cleared state stays clear)."""
        if self.action is None:
            return self
        return ConfirmationState(self.action, ensure_utc(now))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value if self.action else None,
            "since": self.since.isoformat() if self.since else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfirmationState:
        action = data.get("action")
        since = data.get("since")
        return cls(
            Action(action) if action is not None else None,
            datetime.fromisoformat(since) if since is not None else None,
        )


# The cleared state (frozen, so one instance serves every caller).
CLEARED = ConfirmationState()


@dataclass(frozen=True)
class ConfirmationStatus:
    action: Action | None
    since: datetime | None
    required_seconds: float
    elapsed_seconds: float
    progress: float  # 0..1
    remaining_seconds: float
    confirmed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value if self.action else None,
            "since": self.since.isoformat() if self.since else None,
            "required_seconds": self.required_seconds,
            "elapsed_seconds": self.elapsed_seconds,
            "progress": self.progress,
            "remaining_seconds": self.remaining_seconds,
            "confirmed": self.confirmed,
        }


def _required_seconds(required: timedelta) -> float:
    seconds = required.total_seconds()
    if seconds < 0:
        raise ValueError("required confirmation time cannot be negative")
    return seconds


def status_of(state: ConfirmationState, now: datetime, required: timedelta) -> ConfirmationStatus:
    """Where ``state`` stands at ``now`` (read-only: for GET endpoints and the dashboard)."""
    need = _required_seconds(required)
    now = ensure_utc(now)
    if state.action is None or state.since is None:
        return build(
            ConfirmationStatus,
            action=None,
            since=None,
            required_seconds=need,
            elapsed_seconds=0.0,
            progress=0.0,
            remaining_seconds=need,
            confirmed=False,
        )
    elapsed = max(0.0, (now - state.since).total_seconds())
    confirmed = elapsed >= need
    progress = 1.0 if confirmed else elapsed / need
    return build(
        ConfirmationStatus,
        action=state.action,
        since=state.since,
        required_seconds=need,
        elapsed_seconds=elapsed,
        progress=progress,
        remaining_seconds=max(0.0, need - elapsed),
        confirmed=confirmed,
    )


def max_unobserved(interval_seconds: float, candle_seconds: float) -> timedelta:
    """The longest a bot may go unobserved and keep its confirmation: twice the evaluation
    interval, or one candle, whichever is larger."""
    return timedelta(seconds=max(2 * interval_seconds, candle_seconds))


def advance(
    state: ConfirmationState,
    action: Action,
    now: datetime,
    required: timedelta,
    *,
    last_seen: datetime | None = None,
    max_gap: timedelta | None = None,
) -> tuple[ConfirmationState, ConfirmationStatus]:
    """Feed the latest action; return the new state and its status at ``now``. With
    ``last_seen`` and ``max_gap``, a longer gap since the last observation restarts the timer."""
    now = ensure_utc(now)
    if last_seen is not None and max_gap is not None and now - ensure_utc(last_seen) > max_gap:
        state = CLEARED
    if action is Action.HOLD:
        new_state = CLEARED
    elif state.action is action and state.since is not None:
        new_state = state
    else:
        new_state = ConfirmationState(Action(action), now)
    return new_state, status_of(new_state, now, required)
