"""When the backtest must run Python: the ticks where the bot's state can change, found with NumPy.

Nothing can change while the bot is flat and no BUY is confirmed, nor while it holds a position
and neither a confirmed SELL (with exits on sell signals) nor a confirmed BUY that could add a
tranche (room for one, the ask near or below the DCA step) appears, and the bid stays away from
every level that could make it act: the stop-loss, the trailing stop (from the running maximum
of the bid), the next take-profit rung, and the daily loss level (realised today plus the
position at the bid), and no tick comes where the optional cooling exit is due
(:mod:`coinpilot.backtest.cooling`). Float prices only pick candidate ticks, with a margin of
two price ticks; the driver then decides there exactly (``Decimal``, the kernel's own
functions), so a false candidate costs time, never a decision.

Confirmation in simulated time: the engine evaluates every tick (a gap of one candle never
restarts it), so a BUY/SELL is confirmed at a tick once its run of equal actions has lasted the
bot's confirmation time, or, after an attempt restarted it within the run, since that attempt.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.signals import ACTION_BUY, ACTION_HOLD, ACTION_SELL
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.state import AccountState, BotState
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.trading_state import TradingState

# Ticks scanned at once while holding, doubling while nothing is found (a bench position lasts
# ~250 ticks: a first chunk far longer costs more NumPy work than it saves calls).
SCAN_CHUNK = 512
DAY = 86400

__all__ = ["WakeUps"]


class WakeUps:
    """The candidate ticks of one run (the arrays), asked with the state of the moment."""

    def __init__(
        self,
        times: npt.NDArray[np.int64],
        action: npt.NDArray[np.int8],
        required_seconds: float,
        quotes: ReplayQuotes,
        strategy: StrategyConfig,
        limits: SafetyLimits,
        *,
        cooled: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        n = len(times)
        self.times, self.quotes, self.strategy, self.limits = times, quotes, strategy, limits
        self.cooled = cooled  # ticks where the cooling exit is due (backtest.cooling); None: off
        self.required = required_seconds
        # The runs of equal actions: where each starts and ends (a few per thousand ticks).
        change = np.empty(n, dtype=bool)
        change[:1] = True
        np.not_equal(action[1:], action[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        ends = np.append(starts[1:], n)
        # Index of the first tick of the run of equal actions each tick belongs to.
        self.run_start = np.repeat(starts, ends - starts)
        # Where each run starts, as a list: the end of a run is a scalar bisection.
        self._run_starts: list[int] = starts.tolist()
        # A run is confirmed from its first tick at least the confirmation time after its start
        # (whole seconds: t - s >= required <=> t >= s + ceil(required)).
        due = np.searchsorted(times, times[starts] + math.ceil(required_seconds), side="left")
        lasts = due < ends  # the runs confirmed from tick ``due`` to their end
        steps = np.zeros(n + 1, dtype=np.int8)
        steps[due[lasts]] += 1  # distinct ticks (the runs are disjoint): no repeated index
        steps[ends[lasts]] -= 1
        self.confirmed = np.cumsum(steps[:n], dtype=np.int8).view(bool)
        self.confirmed &= action != ACTION_HOLD
        self.confirmed_buy = action == ACTION_BUY
        self.confirmed_buy &= self.confirmed
        self.confirmed_sell = action == ACTION_SELL
        self.confirmed_sell &= self.confirmed
        self.confirmed_buys = np.flatnonzero(self.confirmed_buy)
        # The same ticks as a list: the flat search is a scalar bisection per wake-up (NumPy's
        # per-call overhead would dominate it).
        self._buy_list: list[int] = self.confirmed_buys.tolist()
        self._sell_list: list[int] = np.flatnonzero(self.confirmed_sell).tolist()
        self._day_cache: tuple[int, int, int] = (-1, 0, 0)  # (day, first tick, end tick)
        # The daily loss level of the realised plus open P&L (a hair above the limit).
        self._loss_level = -float(limits.daily_loss_limit_usd) + 1e-6

    def early(self, ticks: npt.NDArray[np.int64], restart: int | None) -> npt.NDArray[np.bool_]:
        """Ticks still inside the confirmation period the attempt at ``restart`` restarted."""
        if restart is None:
            return np.zeros(len(ticks), dtype=bool)
        same_run = self.run_start[ticks] == self.run_start[restart]
        early = same_run & ((self.times[ticks] - self.times[restart]) < self.required)
        return np.asarray(early, dtype=bool)

    def _early_span(self, restart: int | None) -> tuple[int, int]:
        """The ticks :meth:`early` marks, as one range ``[lo, hi)``: a run is a contiguous range
        of ticks and the times increase, so the early ticks of the run of ``restart`` are those
        before the first one at least the confirmation time after it."""
        if restart is None:
            return 0, 0
        run = int(self.run_start[restart])
        starts = self._run_starts
        j = bisect_right(starts, run)
        run_end = starts[j] if j < len(starts) else len(self.times)
        # Whole seconds: t - r >= required <=> t >= r + ceil(required). Only the ticks of the run
        # are searched (a scalar bisection of a few steps, cheaper than NumPy's per-call cost).
        due_at = int(self.times[restart]) + math.ceil(self.required)
        due = bisect_left(self.times, due_at, restart, run_end)
        return run, due

    def _early_at(self, tick: int, restart: int | None) -> bool:
        """:meth:`early` of one tick."""
        if restart is None:
            return False
        runs, times = self.run_start, self.times
        return bool(runs[tick] == runs[restart]) and int(times[tick] - times[restart]) < self.required

    def next_flat(self, k: int, restart: int | None) -> int:
        """While flat only a confirmed BUY can change anything (an entry attempt)."""
        cand = self._buy_list
        j = bisect_left(cand, k)
        while j < len(cand):
            c = cand[j]
            if not self._early_at(c, restart):
                return c
            j += 1
        return len(self.times)

    def next_holding(
        self, k: int, bot: BotState, account: AccountState, restart: int | None, last_visit: int
    ) -> int:
        """The first tick from ``k`` where a signal is confirmed or the bid nears a level.

        The confirmed SELL is a bisection of the sorted sell ticks; only the ticks before it are
        scanned for the rest. The plain price levels (stop-loss, rung, daily loss) become one
        threshold on the bid each, loosened by a relative margin far above float rounding: a
        tick past a threshold is then checked with the exact expressions (the same float
        operations as the array form), so the tick returned is the array form's."""
        n = len(self.times)
        s = self.strategy
        early_lo, early_hi = self._early_span(restart)
        limit = n
        if s.exit_on_sell_signal:
            sells = self._sell_list
            j = bisect_left(sells, k)
            if j < len(sells) and early_lo <= sells[j] < early_hi:
                j = bisect_left(sells, early_hi, j)
            limit = sells[j] if j < len(sells) else n
        if k >= limit:
            return limit
        pos = bot.position
        rung = self._next_rung(bot)
        avg = float(pos.avg_entry_price or 0) if s.stop_loss_pct is not None or rung is not None else 0.0
        base, cost = float(pos.base_size), float(pos.cost)
        slack = self.quotes.slack
        levels = _Levels(avg, base, cost, slack)
        if s.stop_loss_pct is not None:
            levels.stop = avg * (1 - float(s.stop_loss_pct) / 100) + slack
        if rung is not None:
            levels.rung = avg * (1 + float(rung) / 100)
        # Ticks in ``[day_start, day_end)`` lie in the day of the last visit (its realised loss
        # counts there).
        day_start = day_end = 0
        if account.trading_state is TradingState.ACTIVE and base > 0:
            levels.loss = self._loss_level
            realised_today = float(account.realised_today)
            if last_visit >= 0:
                day_start, day_end = self._day_span(last_visit)
        else:
            realised_today = 0.0  # unused: no loss level
        most = min(bot.decision_config.max_tranches, self.limits.max_tranches)
        last_entry = pos.last_entry_price
        dca_trigger: float | None = None
        if bot.tranche_count < most and pos.cost < self.limits.max_position_usd_per_bot and last_entry:
            dca_trigger = float(last_entry) * (1 - float(s.dca_step_pct) / 100) + slack
        trailing = None if s.trailing_stop_pct is None else 1 - float(s.trailing_stop_pct) / 100
        high = bot.cycle.high_water
        hw = float(high) if high is not None else 0.0
        by_array = dca_trigger is not None or self.cooled is not None or trailing is not None
        if not by_array and levels.none:
            return limit
        bid_f = self.quotes.bid_f
        chunk = SCAN_CHUNK
        while k < limit:
            end = min(limit, k + chunk)
            first = end  # the first tick of the array conditions (DCA, cooling, trailing)
            if by_array:
                bid = bid_f[k:end]
                hit = np.zeros(end - k, dtype=bool)
                if dca_trigger is not None:
                    hit |= self.confirmed_buy[k:end] & (self.quotes.ask_f[k:end] - slack <= dca_trigger)
                    lo, hi = max(early_lo, k), min(early_hi, end)
                    if lo < hi:
                        hit[lo - k : hi - k] = False
                if self.cooled is not None:
                    hit |= self.cooled[k:end]
                if trailing is not None:
                    peak = np.maximum(np.maximum.accumulate(bid), hw) + slack
                    hit |= bid - slack <= peak * trailing
                idx = np.flatnonzero(hit)
                if idx.size:
                    first = k + int(idx[0])
            # The levels before ``first``: realised counts only inside the visit's day.
            for lo, hi, realised in (
                (k, min(first, day_start), 0.0),
                (max(k, day_start), min(first, day_end), realised_today),
                (max(k, day_end), first, 0.0),
            ):
                if lo < hi:
                    found = levels.first(bid_f, lo, hi, realised)
                    if found < hi:
                        return found
            if first < end:
                return first
            if trailing is not None and end > k:
                hw = max(hw, float(bid_f[k:end].max()))
            k = end
            chunk *= 2
        return limit

    def _day_span(self, tick: int) -> tuple[int, int]:
        """The ticks ``[start, end)`` of the UTC day of ``tick`` (the last one asked, kept)."""
        day = int(self.times[tick]) // DAY * DAY
        if self._day_cache[0] != day:
            times = self.times
            # A Python int needle is cast to the array's integer type (no float conversion).
            start = int(times.searchsorted(day, side="left"))
            end = int(times.searchsorted(day + DAY, side="left"))
            self._day_cache = (day, start, end)
        return self._day_cache[1], self._day_cache[2]

    def _next_rung(self, bot: BotState) -> Decimal | None:
        """The gain of the lowest take-profit rung not taken yet (any rung needs it reached)."""
        last = max(bot.cycle.rungs_taken, default=-1)
        ladder = self.strategy.take_profit_ladder
        return ladder[last + 1][0] if last + 1 < len(ladder) else None


# Relative margin of the bid thresholds: float rounding moves them by ~1e-16 of the magnitudes
# involved; a far larger margin only lets through ticks that the exact check then refuses.
_MARGIN = 1e-9


class _Levels:
    """The plain price levels of a position (``None``: not in force), as bid thresholds."""

    def __init__(self, avg: float, base: float, cost: float, slack: float) -> None:
        self.avg, self.base, self.cost, self.slack = avg, base, cost, slack
        self.stop: float | None = None  # hit when bid - slack <= stop
        self.rung: float | None = None  # hit when bid + slack >= rung
        self.loss: float | None = None  # hit when realised + base * (bid - slack) - cost <= loss

    @property
    def none(self) -> bool:
        return self.stop is None and self.rung is None and self.loss is None

    def hit(self, bid: float, realised: float) -> bool:
        """The exact conditions at one bid (the array form's float operations, in its order)."""
        slack = self.slack
        if self.stop is not None and bid - slack <= self.stop:
            return True
        if self.rung is not None and bid + slack >= self.rung:
            return True
        return self.loss is not None and realised + self.base * (bid - slack) - self.cost <= self.loss

    def first(self, bid_f: npt.NDArray[np.float64], lo: int, hi: int, realised: float) -> int:
        """The first tick of ``[lo, hi)`` where a level is hit (``hi`` if none)."""
        slack = self.slack
        low = -math.inf  # a bid at or below it may hit the stop or the loss level
        if self.stop is not None:
            t = self.stop + slack
            low = t + _MARGIN * (abs(t) + slack)
        if self.loss is not None:
            scale = abs(self.loss) + abs(self.cost) + abs(realised)
            t = (self.loss + self.cost - realised) / self.base + slack
            low = max(low, t + _MARGIN * (abs(t) + slack + scale / self.base))
        high = math.inf  # a bid at or above it may hit the rung
        if self.rung is not None:
            t = self.rung - slack
            high = t - _MARGIN * (abs(t) + slack)
        while lo < hi:
            bid = bid_f[lo:hi]
            if high == math.inf:
                near = bid <= low
            elif low == -math.inf:
                near = bid >= high
            else:
                near = (bid <= low) | (bid >= high)
            j = int(near.argmax())
            if not near[j]:
                return hi
            at = lo + j
            if self.hit(float(bid_f[at]), realised):
                return at
            lo = at + 1
        return hi
