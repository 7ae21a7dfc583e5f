"""Day boundaries: the daily (and weekly) counters belong to a UTC day (week) and reset when
``now`` lies in a later one."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import overload

from coinpilot.domain.evolve import evolve
from coinpilot.domain.safety_types import day_start, week_start
from coinpilot.domain.state import AccountState, BotState

ZERO = Decimal(0)

__all__ = ["roll_day"]

# The day and week of the last ``now`` asked about: a driver passes the same ``now`` object to
# every event of one tick (~9 rolls per backtest visit), so an identity check answers the
# repeats without hashing the instant. One tuple, swapped whole: safe across threads.
_last: tuple[datetime, datetime, datetime] | None = None


@overload
def roll_day(state: BotState, now: datetime) -> BotState: ...
@overload
def roll_day(state: AccountState, now: datetime) -> AccountState: ...
def roll_day(state: BotState | AccountState, now: datetime) -> BotState | AccountState:
    """``state`` with its daily (and, for a bot, weekly) counters reset when ``now`` lies in a
    later UTC day (week) than the one they belong to. A state that belongs to no day yet is
    stamped with today's."""
    global _last
    last = _last
    if last is not None and last[0] is now:
        today, week = last[1], last[2]
    else:
        today, week = day_start(now), week_start(now)
        _last = (now, today, week)
    if isinstance(state, AccountState):
        if state.day == today:
            return state
        return _roll_account(state, today)
    p = state.protections
    if p.day == today and p.week == week:
        return state
    return _roll_bot(state, today, week)


def _roll_account(state: AccountState, today: datetime) -> AccountState:
    if state.day is None or state.day > today:
        return evolve(state, day=today)
    return evolve(state, day=today, trades_today=0, realised_today=ZERO)


def _roll_bot(state: BotState, today: datetime, week: datetime) -> BotState:
    p = state.protections
    new = evolve(p, day=today, week=week)
    if p.day is not None and p.day < today:
        new = evolve(new, trades_today=0, realised_today=ZERO)
    if p.week is not None and p.week < week:
        new = evolve(new, realised_week=ZERO)
    return evolve(state, protections=new)
