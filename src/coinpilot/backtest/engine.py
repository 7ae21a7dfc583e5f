"""The backtest driver: the live decision path in simulated time, Python only where state changes.

Time and prices (the stated price model). The engine is evaluated once per candle, at every
candle boundary ``T`` from the close of the ``start`` candle to the open of the last candle (also
inside gaps, as a live engine keeps ticking; the last candle only prices the decision made on the
one before it). At ``T``:

- the signals score the closed candles whose start lies in ``[T - g (required_candles + 2), T)``,
  exactly the window live fetches (shorter at gaps, as live sees them): a decision on candle t
  uses data up to its close and nothing after;
- the quote is the replayed market's (:mod:`coinpilot.exchange.replay`) at ``T``: mid = the open
  of the candle starting at ``T`` (the *next* candle), or, inside a gap or after the data, the last
  close; mid rounded half-even to the price increment, bid = mid x (1 - spread/2) rounded down,
  ask = mid x (1 + spread/2) rounded up (at least one tick apart);
- an order fills at once (the paper exchange with no fill delay) at that ask (buys) or bid (sells)
  with the paper slippage, fee and rounding (:mod:`coinpilot.exchange.simulated`). So a decision
  on candle t fills at the open of candle t+1.

What runs at a tick is the live engine's step: confirmation advanced in simulated time, the
high-water mark moved with the bid, ``decision.decide``, ``safety.validate`` on the context the
store would gather, the fill settled on the position (``position.apply_entry`` /
``apply_exit``), the daily loss breaker checked at the bid. Refused orders are recorded with their
codes; a confirmation-driven attempt restarts the confirmation; a refused protective exit waits
``RETRY_REFUSED_SECONDS`` before it is tried again, as :class:`~coinpilot.engine.bot_loop.TradingStep`
does.

Where Python runs: nothing can change while the bot is flat and no BUY is confirmed, nor while
it holds a position, no BUY/SELL is confirmed and the bid is away from every level (stop,
trailing stop from the running maximum of the bid, the next take-profit rung, the daily loss
level). Those ticks are found with NumPy (confirmation: a run of equal actions that has lasted
the confirmation time, or since the attempt that restarted it); every other tick runs the exact
step above. Float prices only pick
candidate ticks (with a margin of two ticks); every comparison that decides anything is made in
``Decimal`` by the domain functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np

from coinpilot.backtest import data as bt_data
from coinpilot.backtest.book import BotBook
from coinpilot.backtest.result import BacktestFill, BacktestRefusal, BacktestResult, BacktestSpec
from coinpilot.backtest.signals import (
    ACTION_BUY,
    ACTION_HOLD,
    ACTION_SELL,
    exact_evaluation,
    score_series,
    tick_windows,
)
from coinpilot.domain.confirmation import ConfirmationState, advance, max_unobserved
from coinpilot.domain.decision import OrderPlan, Signal, decide, effective_strategy
from coinpilot.domain.market import Candles
from coinpilot.domain.safety import SafetyRequest, validate
from coinpilot.domain.signal_config import required_candles
from coinpilot.domain.temperature import temperature
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import Action, Side, TradeIntent
from coinpilot.exchange.base import OrderRejected
from coinpilot.exchange.simulated import SimulatedExchange, quantize

RETRY_REFUSED_SECONDS = 300.0  # engine.bot_loop.RETRY_REFUSED_SECONDS
NEVER_MEETS = frozenset({"BELOW_PRODUCT_MINIMUM"})  # engine.bot_loop.NEVER_MEETS
SCAN_CHUNK = 4096
_ACTIONS = {ACTION_BUY: Action.BUY, ACTION_SELL: Action.SELL, ACTION_HOLD: Action.HOLD}

Progress = Callable[[int, int], None]


class _Quotes:
    """The replayed market's quote at each tick, as floats (for scanning) and exact on demand."""

    def __init__(self, c: Candles, times: np.ndarray, spread_bps: Decimal, tick: Decimal) -> None:
        i = np.searchsorted(c.start, times, side="right") - 1  # candle starting at or before T
        inside = (i >= 0) & (c.start[np.maximum(i, 0)] == times)
        self.raw = np.where(inside, c.open[np.maximum(i, 0)], c.close[np.maximum(i, 0)])
        self.half = spread_bps / Decimal(20000)
        self.tick = tick
        half_f = float(self.half)
        self.bid_f = self.raw * (1.0 - half_f)
        self.slack = 2.0 * float(tick)

    def exact(self, k: int) -> tuple[Decimal, Decimal]:
        """(bid, ask) exactly as ``ReplayMarketData.get_best_bid_ask`` prices tick ``k``."""
        return self.of_raw(float(self.raw[k]))

    def of_raw(self, raw: float) -> tuple[Decimal, Decimal]:
        inc = self.tick
        mid = quantize(Decimal(str(raw)), inc, ROUND_HALF_EVEN)
        bid = quantize(mid * (1 - self.half), inc, ROUND_FLOOR)
        ask = quantize(mid * (1 + self.half), inc, ROUND_CEILING)
        if self.half and ask <= bid:
            ask = bid + inc
        return bid, ask


def default_start_index(c: Candles, spec: BacktestSpec) -> int:
    """The first candle with a full live window behind it (``required_candles + 2``)."""
    return required_candles(spec.bot.signals) + 1


def run_backtest(
    spec: BacktestSpec,
    candles: Candles,
    *,
    start: datetime | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run ``spec`` over ``candles``; ``start``: the first candle a decision may be made on
    (earlier candles are history; default: the first candle with a full signal window)."""
    began = time.perf_counter()
    bt_data.validate_candles(candles, f"backtest {candles.pair}")
    driver = _Driver(spec, candles, start, progress)
    result = driver.run()
    result.elapsed_seconds = time.perf_counter() - began
    return result


class _Driver:
    def __init__(
        self, spec: BacktestSpec, c: Candles, start: datetime | None, progress: Progress | None
    ) -> None:
        cfg = spec.bot
        self.spec, self.c, self.cfg, self.progress = spec, c, cfg, progress
        self.limits = spec.limits
        self.product = spec.product
        self.strategy = effective_strategy(spec.strategy_raw, cfg)
        if self.strategy.cooling_exit_below is not None:
            raise ValueError("the backtester does not model the cooling exit yet; remove cooling_exit_below")
        self.g = c.granularity.seconds
        if start is None:
            self.first = default_start_index(c, spec)
        else:
            self.first = int(np.searchsorted(c.start, int(start.timestamp()), side="left"))
        if self.first > len(c) - 2:
            raise ValueError(
                f"{len(c)} candles leave none to trade on after the warm-up of {self.first}: a decision "
                "needs the candle it is made on and the next one, whose open fills it"
            )
        # Ticks: every candle boundary from the close of the start candle to the open of the last
        # candle, so every decision has the next open to fill at.
        t0 = int(c.start[self.first]) + self.g
        t1 = int(c.start[-1])
        self.times = np.arange(t0, t1 + 1, self.g, dtype=np.int64)
        self.windows = tick_windows(c.start, self.g, cfg.signals, self.times)
        self.series = score_series(c, self.windows, cfg.signals, cfg.buy_threshold, cfg.sell_threshold)
        tick = self.product.price_increment or self.product.quote_increment
        self.quotes = _Quotes(c, self.times, spec.spread_bps, tick)
        self.exchange = SimulatedExchange(
            self.product,
            fee_rate=spec.fee_rate,
            slippage_bps=spec.slippage_bps,
            balances={self.product.quote_currency: spec.starting_cash},
        )
        self.book = BotBook(cfg.cooldown_minutes, cfg.max_tranches)
        self.dust_below = max(self.product.base_increment, self.product.base_min_size)
        self.max_gap = max_unobserved(self.g, self.g)
        # Confirmation in simulated time, found with NumPy: the engine evaluates every tick (a gap
        # of one candle never restarts it), so a BUY/SELL is confirmed at a tick once its run of
        # equal actions has lasted ``cfg.confirmation`` (or, after an attempt restarted it within
        # the run, since that attempt). Only those ticks can place an order from a signal; at each
        # of them ``confirmation.advance`` itself decides, from the state this reconstructs.
        action = self.series.action
        n = len(self.times)
        change = np.r_[True, action[1:] != action[:-1]] if n else np.zeros(0, dtype=bool)
        self.run_start = np.maximum.accumulate(np.where(change, np.arange(n), 0)) if n else np.zeros(0, int)
        self.required = cfg.confirmation.total_seconds()
        lasted = (self.times - self.times[self.run_start]) >= self.required
        self.confirmed = (action != ACTION_HOLD) & lasted
        self.confirmed_buys = np.flatnonzero(self.confirmed & (action == ACTION_BUY))
        self.restart: int | None = None  # tick of the last confirmation-driven attempt
        self.day = self.times // 86400
        self.fills: list[BacktestFill] = []
        self.refusals: list[BacktestRefusal] = []
        self.refused_until: dict[TradeIntent, int] = {}
        self.never: set[tuple[TradeIntent, Decimal | None, Decimal | None]] = set()
        self.changes: list[tuple[int, float, float]] = []  # (tick, cash, base) after a fill
        self.last_visit = -1
        self.hw_from = 0  # first tick whose bid is not yet in the high-water mark
        self.visited = 0
        self.tripped_at: datetime | None = None

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> BacktestResult:
        n = len(self.times)
        k = 0
        reported = 0
        while k < n:
            nxt = self._next_flat(k) if self.book.position.is_flat else self._next_holding(k)
            if nxt >= n:
                break
            self._visit(nxt)
            k = nxt + 1
            if self.progress is not None and k - reported >= 65536:
                reported = k
                self.progress(k, n)
        if self.progress is not None:
            self.progress(n, n)
        return self._result()

    def _early(self, ticks: np.ndarray) -> np.ndarray:
        """Ticks still inside the confirmation period restarted by the last attempt."""
        r = self.restart
        if r is None:
            return np.zeros(len(ticks), dtype=bool)
        same_run = self.run_start[ticks] == self.run_start[r]
        early = same_run & ((self.times[ticks] - self.times[r]) < self.required)
        return np.asarray(early, dtype=bool)

    def _next_flat(self, k: int) -> int:
        """While flat only a confirmed BUY can change anything (an entry attempt)."""
        cand = self.confirmed_buys
        while True:
            j = int(np.searchsorted(cand, k, side="left"))
            if j >= len(cand):
                return len(self.times)
            c = int(cand[j])
            if not self._early(np.array([c]))[0]:
                return c
            k = c + 1

    def _next_holding(self, k: int) -> int:
        """The first tick from ``k`` where a level may be crossed or the action is not HOLD."""
        n = len(self.times)
        pos = self.book.position
        avg = float(pos.avg_entry_price or 0)
        base, cost = float(pos.base_size), float(pos.cost)
        s = self.strategy
        hw = float(self.book.high_water) if self.book.high_water is not None else 0.0
        slack = self.quotes.slack
        chunk = SCAN_CHUNK
        while k < n:
            end = min(n, k + chunk)
            bid = self.quotes.bid_f[k:end]
            hit = self.confirmed[k:end] & ~self._early(np.arange(k, end))
            if s.stop_loss_pct is not None:
                hit |= bid - slack <= avg * (1 - float(s.stop_loss_pct) / 100) + slack
            if s.trailing_stop_pct is not None:
                peak = np.maximum(np.maximum.accumulate(bid), hw) + slack
                hit |= bid - slack <= peak * (1 - float(s.trailing_stop_pct) / 100)
            rung = self._next_rung()
            if rung is not None:
                hit |= bid + slack >= avg * (1 + float(rung) / 100)
            if self.book.trading_state is TradingState.ACTIVE and base > 0:
                realised = np.where(
                    self.day[k:end] == self._visit_day(),
                    float(self.book.realised_today(self._at(max(self.last_visit, 0)))),
                    0.0,
                )
                hit |= (
                    realised + base * (bid - slack) - cost <= -float(self.limits.daily_loss_limit_usd) + 1e-6
                )
            idx = np.flatnonzero(hit)
            if idx.size:
                return k + int(idx[0])
            if s.trailing_stop_pct is not None and bid.size:
                hw = max(hw, float(bid.max()))
            k = end
            chunk *= 2
        return n

    def _visit_day(self) -> int:
        return int(self.day[self.last_visit]) if self.last_visit >= 0 else -1

    def _next_rung(self) -> Decimal | None:
        last = max(self.book.rungs_taken, default=-1)
        ladder = self.strategy.take_profit_ladder
        return ladder[last + 1][0] if last + 1 < len(ladder) else None

    def _at(self, k: int) -> datetime:
        return datetime.fromtimestamp(int(self.times[k]), UTC)

    # -- one tick, exactly as live ---------------------------------------------------------------
    def _visit(self, k: int) -> None:
        self.visited += 1
        now = self._at(k)
        book = self.book
        cfg = self.cfg
        code = int(self.series.action[k])
        action = _ACTIONS[code]
        # The confirmation state before this tick, as the evaluations since the run began left it.
        prior = ConfirmationState()
        run = int(self.run_start[k])
        if code != ACTION_HOLD and run < k:
            since = run if self.restart is None or self.restart < run else self.restart
            prior = ConfirmationState(action, self._at(since))
        previous = self._at(k - 1) if k > 0 else None
        book.confirmation, status = advance(
            prior, action, now, cfg.confirmation, last_seen=previous, max_gap=self.max_gap
        )
        # High-water mark: every bid since the last visit (the bid is monotone in the price).
        if not book.position.is_flat and k >= self.hw_from:
            top = float(np.max(self.quotes.raw[self.hw_from : k + 1]))
            book.observe(now, self.quotes.of_raw(top)[0])
        self.hw_from = k + 1
        self.last_visit = k
        bid, ask = self.quotes.exact(k)
        score = float(self.series.score[k])
        signal = Signal(
            action=action,
            confirmed=status.confirmed,
            temperature=temperature(score, cfg.buy_threshold, cfg.sell_threshold).level,
            score=score,
        )
        plan = decide(
            book.view(self.c.pair, cfg),
            signal,
            bid,
            ask,
            self.product.base_increment,
            self.limits,
            self.strategy,
            base_min_size=self.product.base_min_size,
            quote_min_size=self.product.quote_min_size,
        )
        if plan is not None:
            if plan.side is Side.BUY:  # sized from the score: use the live function's own value
                ev = exact_evaluation(
                    self.c,
                    int(self.windows.lo[k]),
                    int(self.windows.hi[k]),
                    cfg.signals,
                    cfg.buy_threshold,
                    cfg.sell_threshold,
                )
                if ev.score != score:
                    signal = Signal(ev.action, status.confirmed, signal.temperature, ev.score)
                    plan = decide(
                        book.view(self.c.pair, cfg),
                        signal,
                        bid,
                        ask,
                        self.product.base_increment,
                        self.limits,
                        self.strategy,
                        base_min_size=self.product.base_min_size,
                        quote_min_size=self.product.quote_min_size,
                    )
            if plan is not None:
                self._execute(k, now, plan, bid, ask)
        if book.loss_breaker(now, bid, self.limits) and self.tripped_at is None:
            self.tripped_at = now

    def _execute(self, k: int, now: datetime, plan: OrderPlan, bid: Decimal, ask: Decimal) -> None:
        book = self.book
        key = (plan.intent, plan.base_size, plan.quote_size)
        if key in self.never:
            return
        if not plan.confirmation_driven:
            until = self.refused_until.get(plan.intent)
            if until is not None and int(self.times[k]) < until:
                return
        request = SafetyRequest(
            bot_id=1,
            pair=self.c.pair,
            side=plan.side,
            intent=plan.intent,
            quote_size=plan.quote_size,
            base_size=plan.base_size,
            price=ask if plan.side is Side.BUY else bid,
        )
        base_cur, quote_cur = self.product.base_currency, self.product.quote_currency
        context = book.context(
            now,
            self.limits,
            self.product,
            self.exchange.available(quote_cur),
            self.exchange.available(base_cur),
        )
        decision = validate(request, context, self.limits)
        codes: tuple[str, ...] = ()
        if not decision.allowed:
            codes = tuple(r.code for r in decision.reasons)
            if decision.reduce_trading and book.trading_state is TradingState.ACTIVE:
                book.trading_state = TradingState.REDUCING
                self.tripped_at = self.tripped_at or now
        else:
            try:
                fill = self.exchange.place_market_order(
                    plan.side, bid, ask, quote_size=plan.quote_size, base_size=plan.base_size
                )
            except OrderRejected as exc:
                codes = (exc.code or "ORDER_REJECTED",)
            else:
                tranche = len(book.position.tranches) if plan.side is Side.BUY else None
                realised = book.record_fill(now, plan.side, plan.intent, fill, plan.rung, self.dust_below)
                self.fills.append(
                    BacktestFill(
                        at=now,
                        side=plan.side,
                        intent=plan.intent,
                        reason=plan.reason,
                        price=fill.price,
                        base_size=fill.base_size,
                        quote_value=fill.value,
                        fee=fill.fee,
                        tranche=tranche,
                        rung=plan.rung,
                        realised_pnl=realised,
                        decided_at=now,
                    )
                )
                self.changes.append(
                    (k, float(self.exchange.available(quote_cur)), float(self.exchange.available(base_cur)))
                )
                # Live settles the fill after this tick's evaluation: the high-water mark of a
                # new position starts with the next tick's bid.
                self.hw_from = k + 1
        if codes:
            self.refusals.append(BacktestRefusal(now, plan.side, plan.intent, codes))
            if not plan.confirmation_driven:
                self.refused_until[plan.intent] = int(self.times[k]) + int(RETRY_REFUSED_SECONDS)
                if all(c in NEVER_MEETS for c in codes):
                    self.never.add((plan.intent, plan.base_size, plan.quote_size))
        if plan.confirmation_driven:
            book.confirmation = book.confirmation.restarted(now)
            self.restart = k

    # -- the result ------------------------------------------------------------------------------
    def _result(self) -> BacktestResult:
        c = self.c
        idx = np.arange(self.first, len(c) - 1)  # candles whose close is a tick
        close_ticks = ((c.start[idx] + self.g - self.times[0]) // self.g).astype(np.int64)
        # Balances after each fill, carried forward to every later tick.
        changed_at = np.array([k for k, _, _ in self.changes], dtype=np.int64)
        which = np.searchsorted(changed_at, np.arange(len(self.times)), side="right") - 1
        cash_after = np.r_[float(self.spec.starting_cash), [x for _, x, _ in self.changes]]
        base_after = np.r_[0.0, [x for _, _, x in self.changes]]
        cash = cash_after[which + 1]
        base = base_after[which + 1]
        bid_f = np.floor(self.quotes.bid_f / float(self.quotes.tick)) * float(self.quotes.tick)
        equity = cash + base * bid_f
        quote_cur, base_cur = self.product.quote_currency, self.product.base_currency
        final_cash = self.exchange.available(quote_cur)
        final_base = self.exchange.available(base_cur)
        last_bid = self.quotes.exact(len(self.times) - 1)[0]
        gaps = [gap.to_dict() for gap in bt_data.find_gaps(c)]
        return BacktestResult(
            spec=self.spec,
            pair=c.pair,
            granularity_seconds=self.g,
            timestamps=c.start[idx].copy(),
            close=c.close[idx].copy(),
            equity=equity[close_ticks],
            position=base[close_ticks],
            fills=self.fills,
            refusals=self.refusals,
            gaps=gaps,
            warmup_candles=self.first,
            final_cash=final_cash,
            final_position=final_base,
            final_equity=final_cash + final_base * last_bid,
            meta={
                "ticks": len(self.times),
                "ticks_visited": self.visited,
                "scores_recomputed": self.series.recomputed,
                "trading_state": self.book.trading_state.value,
                "loss_breaker_tripped_at": self.tripped_at.isoformat() if self.tripped_at else None,
                "price_model": "decision at candle close, fill at the next open (replay quote, paper fill)",
            },
        )
