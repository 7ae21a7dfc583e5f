"""The optional cooling exit (plan 4.3.2, "exit based on temperature changes"): sell a position
when its bot has stayed below a temperature for a confirmation period.

Why: a position is opened on a strong buy signal. When that conviction fades and stays faded —
the bot no longer at least, say, warm for a buy for 30 minutes — holding on is a bet the signals
no longer make. Like any confirmation, one reading is not enough: every reading for the whole
period must be below the level, so a single dip does not sell.

Judged on the *buy-side* temperature (:func:`buy_side_temperature`): a bot leaning to sell is
frozen for a buy, so it counts as cooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from coinpilot.domain.strategy_config import StrategyConfig
from coinpilot.domain.temperature import buy_side_temperature, level_rank
from coinpilot.domain.types import TemperatureLevel


@dataclass(frozen=True)
class Reading:
    at: datetime
    score: float


def cooling_exit_due(
    readings: Sequence[Reading],
    now: datetime,
    below: TemperatureLevel,
    minutes: float,
    buy_threshold: float,
    sell_threshold: float,
) -> bool:
    """True when the bot has been below ``below`` (for a buy) for at least ``minutes``.

    ``readings`` are the bot's evaluations, oldest first, reaching back to at least one taken at
    or before ``now - minutes`` (without one the period is not proven and nothing is sold). The
    newest reading must fall inside the period: stale readings prove nothing about now.
    """
    if not readings or minutes <= 0:
        return False
    start = now - timedelta(minutes=minutes)
    ordered = sorted(readings, key=lambda r: r.at)
    if ordered[-1].at < start or ordered[0].at > start:
        return False
    first = max(i for i, r in enumerate(ordered) if r.at <= start)
    limit = level_rank(below)
    return all(
        level_rank(buy_side_temperature(r.score, buy_threshold, sell_threshold)) < limit
        for r in ordered[first:]
    )


def history_needed_since(strategy: StrategyConfig, now: datetime) -> datetime | None:
    """The start of the cooling period a decision at ``now`` or later needs: its evaluations from
    the newest one at or before this instant on must be kept. None: the bot has no cooling exit.

    Why: the evaluation history is pruned to a count, which at one evaluation a minute covers
    hours, while the cooling period may be a week. Pruning its start away would leave the exit
    never proven, a configured protection that silently never fires. A later decision's period
    starts later, so what is kept for ``now`` is enough for it too.
    """
    if strategy.cooling_exit_below is None:
        return None
    return now - timedelta(minutes=float(strategy.cooling_exit_minutes))
