"""Day boundaries: the daily (and weekly) counters belong to a UTC day (week) and reset when
``now`` lies in a later one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import overload

from coinpilot.domain.safety_types import day_start, week_start
from coinpilot.domain.state import AccountState, BotState

ZERO = Decimal(0)

__all__ = ["roll_day"]


@overload
def roll_day(state: BotState, now: datetime) -> BotState: ...
@overload
def roll_day(state: AccountState, now: datetime) -> AccountState: ...
def roll_day(state: BotState | AccountState, now: datetime) -> BotState | AccountState:
    """``state`` with its daily (and, for a bot, weekly) counters reset when ``now`` lies in a
    later UTC day (week) than the one they belong to. A state that belongs to no day yet is
    stamped with today's."""
    if isinstance(state, AccountState):
        return _roll_account(state, now)
    return _roll_bot(state, now)


def _roll_account(state: AccountState, now: datetime) -> AccountState:
    today = day_start(now)
    if state.day == today:
        return state
    if state.day is None or state.day > today:
        return replace(state, day=today)
    return replace(state, day=today, trades_today=0, realised_today=ZERO)


def _roll_bot(state: BotState, now: datetime) -> BotState:
    today, week = day_start(now), week_start(now)
    p = state.protections
    if p.day == today and p.week == week:
        return state
    new = replace(p, day=today, week=week)
    if p.day is not None and p.day < today:
        new = replace(new, trades_today=0, realised_today=ZERO)
    if p.week is not None and p.week < week:
        new = replace(new, realised_week=ZERO)
    return replace(state, protections=new)
