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

What runs at a tick is the live engine's step on the decision kernel (:mod:`coinpilot.domain.kernel`,
its states held in memory): ``on_evaluation`` (confirmation in simulated time), ``on_quote``
(high-water mark, mark), ``step`` (at most one intent), ``approve`` (the safety check), then
``on_order_accepted`` and ``on_fill`` (settled at once) or ``on_order_refused``, and the daily loss
breaker at the bid. Refused orders are recorded with their codes; a refused protective exit waits
``RETRY_REFUSED_SECONDS`` before it is tried again, as ``engine.loop.bot_loop.TradingStep`` does.

Where Python runs: only at the ticks :mod:`coinpilot.backtest.wakeups` finds with NumPy (a
confirmed signal, or a bid near a level that could make the bot act); every other tick changes
nothing. Every comparison that decides anything is made there in ``Decimal`` by the kernel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from coinpilot.backtest import data as bt_data
from coinpilot.backtest.cooling import strategy_cooled_ticks
from coinpilot.backtest.quotes import ReplayQuotes
from coinpilot.backtest.result import BacktestFill, BacktestRefusal, BacktestResult, BacktestSpec
from coinpilot.backtest.signals import (
    ACTION_BUY,
    ACTION_HOLD,
    ACTION_SELL,
    exact_evaluation,
    grid_windows,
    score_series,
)
from coinpilot.backtest.wakeups import WakeUps
from coinpilot.domain import kernel
from coinpilot.domain.confirmation import CLEARED, ConfirmationState
from coinpilot.domain.decision import Signal, effective_strategy
from coinpilot.domain.evolve import build, evolve
from coinpilot.domain.market import BestBidAsk, Candles
from coinpilot.domain.position import FillAmount
from coinpilot.domain.signal_config import required_candles
from coinpilot.domain.state import AccountState, BotState, Confirmation, OrderIntent
from coinpilot.domain.temperature import temperature
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import (
    Action,
    BotStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradeStatus,
    TradingMode,
)
from coinpilot.exchange.base import OrderRejected
from coinpilot.exchange.simulated import SimulatedExchange

RETRY_REFUSED_SECONDS = 300.0  # engine.bot_loop.RETRY_REFUSED_SECONDS
NEVER_MEETS = frozenset({"BELOW_PRODUCT_MINIMUM"})  # engine.bot_loop.NEVER_MEETS
_ACTIONS = {ACTION_BUY: Action.BUY, ACTION_SELL: Action.SELL, ACTION_HOLD: Action.HOLD}

Progress = Callable[[int, int], None]


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
    if spec.bot.granularity is not candles.granularity:
        raise ValueError(
            f"the bot evaluates {spec.bot.granularity.value} candles but the data is "
            f"{candles.granularity.value}: live would score other windows; pass matching data"
        )
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
        count = (int(c.start[-1]) - t0) // self.g + 1
        self.windows, at_or_before = grid_windows(c.start, self.g, cfg.signals, t0, count)
        self.times = self.windows.times
        self.series = score_series(c, self.windows, cfg.signals, cfg.buy_threshold, cfg.sell_threshold)
        # The optional cooling exit: where live would find it due (None: off).
        self.cooled = strategy_cooled_ticks(self.times, self.series.score, self.strategy, cfg.buy_threshold)
        tick = self.product.price_increment or self.product.quote_increment
        self.quotes = ReplayQuotes(c, self.times, spec.spread_bps, tick, (self.windows.hi, at_or_before))
        self.exchange = SimulatedExchange(
            self.product,
            fee_rate=spec.fee_rate,
            slippage_bps=spec.slippage_bps,
            balances={self.product.quote_currency: spec.starting_cash},
        )
        # The kernel's state, held in memory (one bot, one account, trading enabled).
        self.bot = BotState(
            bot_id=1, pair=c.pair, status=BotStatus.RUNNING, config=cfg, strategy=self.strategy
        )
        self.account = AccountState(mode=TradingMode.MOCK, trading_state=TradingState.ACTIVE)
        self.wake = WakeUps(
            self.times,
            self.series.action,
            cfg.confirmation.total_seconds(),
            self.quotes,
            self.strategy,
            self.limits,
            cooled=self.cooled,
        )
        self.restart: int | None = None  # tick of the last confirmation-driven attempt
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
            if self.bot.position.is_flat:
                nxt = self.wake.next_flat(k, self.restart)
            else:
                nxt = self.wake.next_holding(k, self.bot, self.account, self.restart, self.last_visit)
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

    def _at(self, k: int) -> datetime:
        return datetime.fromtimestamp(int(self.times[k]), UTC)

    # -- one tick, exactly as live ---------------------------------------------------------------
    def _visit(self, k: int) -> None:
        self.visited += 1
        now = self._at(k)
        cfg = self.cfg
        bot, account = kernel.roll_day(self.bot, now), kernel.roll_day(self.account, now)
        code = int(self.series.action[k])
        action = _ACTIONS[code]
        score = float(self.series.score[k])
        # The confirmation before this tick, as the evaluations since its run began left it (the
        # ticks skipped were observed too: last seen one tick ago).
        prior = CLEARED
        run = int(self.wake.run_start[k])
        if code != ACTION_HOLD and run < k:
            since = run if self.restart is None or self.restart < run else self.restart
            prior = ConfirmationState(action, self._at(since))
        previous = self._at(k - 1) if k > 0 else None
        cooled = self.cooled is not None and bool(self.cooled[k])
        bot = evolve(bot, confirmation=Confirmation(prior, previous), cooled=cooled)
        # One temperature serves both: buy_side_temperature is this level when it leans to buy.
        warmth = temperature(score, cfg.buy_threshold, cfg.sell_threshold)
        bot, status = kernel.on_evaluation(
            bot,
            action,
            now,
            interval_seconds=self.g,
            temperature=warmth.level if warmth.leaning is Action.BUY else TemperatureLevel.FROZEN,
        )
        # The high-water mark: every bid since the last visit (the bid is monotone in the price),
        # then this tick's bid marks the position.
        bid, ask = self.quotes.exact(k)
        if not bot.position.is_flat and k > self.hw_from:
            top = float(self.quotes.raw[self.hw_from : k].max())
            bot, account = kernel.on_quote(bot, account, self.quotes.of_raw(top)[0])
        bot, account = kernel.on_quote(bot, account, bid)
        self.hw_from = k + 1
        self.last_visit = k
        quote = build(BestBidAsk, pair=self.c.pair, bid=bid, ask=ask, time=now)
        signal = build(
            Signal,
            action=action,
            confirmed=status.confirmed,
            temperature=warmth.level,
            score=score,
            snapshot={},
            confirmation={},
        )
        before = bot
        bot, intent = kernel.step(before, account, quote, signal, now, self.product, self.limits)
        if intent is not None and intent.side is Side.BUY and self.strategy.sizing == "graduated":
            # Sized from the score (graduated sizing): decide on the live function's own value.
            ev = exact_evaluation(
                self.c,
                int(self.windows.lo[k]),
                int(self.windows.hi[k]),
                cfg.signals,
                cfg.buy_threshold,
                cfg.sell_threshold,
            )
            if ev.score != score:
                signal = evolve(signal, action=ev.action, score=ev.score)
                bot, intent = kernel.step(before, account, quote, signal, now, self.product, self.limits)
        if intent is not None:
            bot, account = self._execute(k, now, bot, account, intent, bid, ask)
        if account.trading_state is TradingState.ACTIVE and kernel.daily_loss(account, self.limits).reached:
            account = evolve(account, trading_state=TradingState.REDUCING, reason="daily loss limit")
            self.tripped_at = self.tripped_at or now
        self.bot, self.account = bot, account

    def _execute(
        self,
        k: int,
        now: datetime,
        bot: BotState,
        account: AccountState,
        intent: OrderIntent,
        bid: Decimal,
        ask: Decimal,
    ) -> tuple[BotState, AccountState]:
        """Safety, then the simulated exchange, then the fill settled, as TradingStep does."""
        key = (intent.intent, intent.base_size, intent.quote_size)
        if self.never and key in self.never:  # (hashing the sizes only when something never meets)
            return bot, account
        if not intent.confirmation_driven:
            until = self.refused_until.get(intent.intent)
            if until is not None and int(self.times[k]) < until:
                return bot, account
        account = kernel.with_balances(account, self.exchange.balances)
        decision = kernel.approve(bot, account, intent, self.product, now, self.limits)
        codes: tuple[str, ...] = ()
        if not decision.allowed:
            codes = tuple(r.code for r in decision.reasons)
            bot = kernel.on_order_refused(bot, intent, now)
            if decision.reduce_trading and account.trading_state is TradingState.ACTIVE:
                account = evolve(account, trading_state=TradingState.REDUCING, reason="daily loss limit")
                self.tripped_at = self.tripped_at or now
        else:
            bot, account = kernel.on_order_accepted(bot, account, intent, now)
            try:
                fill = self.exchange.place_market_order(
                    intent.side, bid, ask, quote_size=intent.quote_size, base_size=intent.base_size
                )
            except OrderRejected as exc:
                codes = (exc.code or "ORDER_REJECTED",)
                bot, account = kernel.on_order_final(bot, account, TradeStatus.FAILED, now)
            else:
                tranche = len(bot.position.tranches) if intent.side is Side.BUY else None
                realised_before = bot.position.realized_pnl
                amount = build(
                    FillAmount, price=fill.price, base_size=fill.base_size, fee=fill.fee, value=fill.value
                )
                bot, account = kernel.on_fill(bot, account, [amount], now, self.product, self.limits)
                realised = bot.position.realized_pnl - realised_before if intent.side is Side.SELL else None
                self.fills.append(
                    build(
                        BacktestFill,
                        at=now,
                        side=intent.side,
                        intent=intent.intent,
                        reason=intent.reason,
                        price=fill.price,
                        base_size=fill.base_size,
                        quote_value=fill.value,
                        fee=fill.fee,
                        tranche=tranche,
                        rung=intent.rung,
                        realised_pnl=realised,
                        decided_at=now,
                    )
                )
                base_cur, quote_cur = self.product.base_currency, self.product.quote_currency
                self.changes.append(
                    (k, float(self.exchange.available(quote_cur)), float(self.exchange.available(base_cur)))
                )
                # Live settles the fill after this tick's evaluation: the high-water mark of a
                # new position starts with the next tick's bid.
                self.hw_from = k + 1
        if codes:
            self.refusals.append(BacktestRefusal(now, intent.side, intent.intent, codes))
            if not intent.confirmation_driven:
                self.refused_until[intent.intent] = int(self.times[k]) + int(RETRY_REFUSED_SECONDS)
                if all(c in NEVER_MEETS for c in codes):
                    self.never.add(key)
        if intent.confirmation_driven:
            self.restart = k
        return bot, account

    # -- the result ------------------------------------------------------------------------------
    def _result(self) -> BacktestResult:
        c = self.c
        idx = np.arange(self.first, len(c) - 1)  # candles whose close is a tick
        close_ticks = ((c.start[idx] + self.g - self.times[0]) // self.g).astype(np.int64)
        # Balances after each fill, carried forward to every later tick.
        # (a count of the fills at or before each tick: one pass, no search per tick)
        changed_at = np.array([k for k, _, _ in self.changes], dtype=np.int64)
        marks = np.zeros(len(self.times), dtype=np.int64)
        np.add.at(marks, changed_at, 1)
        which = np.cumsum(marks) - 1
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
                "trading_state": self.account.trading_state.value,
                "loss_breaker_tripped_at": self.tripped_at.isoformat() if self.tripped_at else None,
                "price_model": "decision at candle close, fill at the next open (replay quote, paper fill)",
            },
        )
