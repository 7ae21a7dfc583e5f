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
from bisect import bisect_left
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
        change = np.r_[True, action[1:] != action[:-1]] if n else np.zeros(0, dtype=bool)
        # Index of the first tick of the run of equal actions each tick belongs to.
        self.run_start = np.maximum.accumulate(np.where(change, np.arange(n), 0)) if n else np.zeros(0, int)
        lasted = (times - times[self.run_start]) >= required_seconds
        self.confirmed = (action != ACTION_HOLD) & lasted
        self.confirmed_buys = np.flatnonzero(self.confirmed & (action == ACTION_BUY))
        # The same ticks as a list: the flat search is a scalar bisection per wake-up (NumPy's
        # per-call overhead would dominate it).
        self._buy_list: list[int] = self.confirmed_buys.tolist()
        self.confirmed_buy = self.confirmed & (action == ACTION_BUY)
        self.confirmed_sell = self.confirmed & (action == ACTION_SELL)
        self.day = times // DAY

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
        run = self.run_start[restart]
        run_end = int(np.searchsorted(self.run_start, run, side="right"))
        # Whole seconds: t - r >= required <=> t >= r + ceil(required). The needle keeps the
        # array's integer type (a float needle would convert the whole array at every call).
        due_at = np.int64(int(self.times[restart]) + math.ceil(self.required))
        due = int(np.searchsorted(self.times, due_at, side="left"))
        return int(run), min(run_end, due)

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
        """The first tick from ``k`` where a signal is confirmed or the bid nears a level."""
        n = len(self.times)
        pos = bot.position
        avg = float(pos.avg_entry_price or 0)
        base, cost = float(pos.base_size), float(pos.cost)
        s = self.strategy
        high = bot.cycle.high_water
        hw = float(high) if high is not None else 0.0
        slack = self.quotes.slack
        rung = self._next_rung(bot)
        visit_day = int(self.day[last_visit]) if last_visit >= 0 else -1
        loss_level = -float(self.limits.daily_loss_limit_usd) + 1e-6
        most = min(bot.decision_config.max_tranches, self.limits.max_tranches)
        last_entry = pos.last_entry_price
        dca_trigger: float | None = None
        if bot.tranche_count < most and pos.cost < self.limits.max_position_usd_per_bot and last_entry:
            dca_trigger = float(last_entry) * (1 - float(s.dca_step_pct) / 100) + slack
        early_lo, early_hi = self._early_span(restart)
        chunk = SCAN_CHUNK
        while k < n:
            end = min(n, k + chunk)
            bid = self.quotes.bid_f[k:end]
            # A confirmed SELL exits only with exit_on_sell_signal; a confirmed BUY adds a tranche
            # only while one may be added and the ask is near or below the DCA step.
            signal = np.zeros(end - k, dtype=bool)
            if s.exit_on_sell_signal:
                signal |= self.confirmed_sell[k:end]
            if dca_trigger is not None:
                signal |= self.confirmed_buy[k:end] & (self.quotes.ask_f[k:end] - slack <= dca_trigger)
            lo, hi = max(early_lo, k), min(early_hi, end)
            if lo < hi:
                signal[lo - k : hi - k] = False
            hit = signal
            if self.cooled is not None:
                hit |= self.cooled[k:end]
            if s.stop_loss_pct is not None:
                hit |= bid - slack <= avg * (1 - float(s.stop_loss_pct) / 100) + slack
            if s.trailing_stop_pct is not None:
                peak = np.maximum(np.maximum.accumulate(bid), hw) + slack
                hit |= bid - slack <= peak * (1 - float(s.trailing_stop_pct) / 100)
            if rung is not None:
                hit |= bid + slack >= avg * (1 + float(rung) / 100)
            if account.trading_state is TradingState.ACTIVE and base > 0:
                realised = np.where(self.day[k:end] == visit_day, float(account.realised_today), 0.0)
                hit |= realised + base * (bid - slack) - cost <= loss_level
            idx = np.flatnonzero(hit)
            if idx.size:
                return k + int(idx[0])
            if s.trailing_stop_pct is not None and bid.size:
                hw = max(hw, float(bid.max()))
            k = end
            chunk *= 2
        return n

    def _next_rung(self, bot: BotState) -> Decimal | None:
        """The gain of the lowest take-profit rung not taken yet (any rung needs it reached)."""
        last = max(bot.cycle.rungs_taken, default=-1)
        ladder = self.strategy.take_profit_ladder
        return ladder[last + 1][0] if last + 1 < len(ladder) else None
