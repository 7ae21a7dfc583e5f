"""The bot loop: every due RUNNING bot, in one batched cycle.

fetch shared market data → score → confirmation → record → decide → safety → execute, then the
protection pass for every bot holding a position (any status).

One cycle (:meth:`EvaluationScheduler.run_once`):

1. the due bots (RUNNING, ``next_evaluation_at`` reached; filtered to this worker's leases when
   several workers share the database), each locked so an evaluation never overlaps another of
   the same bot;
2. bots, runtimes, positions, open trades and take-profit rungs read in a handful of queries;
3. candles fetched once per (pair, granularity, window) and quotes for every pair in one call,
   through the shared :class:`~coinpilot.exchange.market_cache.CachedMarketData`: exchange calls
   grow with pairs, not bots;
4. scores for all bots at once (``evaluate_many``), temperature and confirmation per bot;
5. every evaluation, runtime (confirmation, high-water mark, next due time) and history row
   written in **one** transaction;
6. :func:`coinpilot.engine.loop.bot_loop.decide` per bot, and the few resulting orders placed one by
   one through :class:`~coinpilot.engine.orders.execution.TradeService` (safety decides).

A failure of one bot (bad config, no data for its pair, a failing order) is recorded on that bot
with an exponential back-off (ERROR after 5 in a row) and never stops the others or the loop.
Transient exchange failures are also counted by the exchange breaker, once per cycle however
many pairs or bots failed in it.

This module holds the cycle's order of steps; the steps live in ``due_bots`` (database reads,
configuration cache), ``market`` (candles, quotes, scores), ``record`` (the one write)
and ``failures`` (back-off and ERROR status).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.signals import Evaluation
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.engine.loop import bot_loop, due_bots, protection
from coinpilot.engine.loop.bot_loop import BotView, Signal, TradingStep, decide
from coinpilot.engine.loop.due_bots import ConfigCache, LoadedBot
from coinpilot.engine.loop.evaluator import BotEvaluation, EvaluationService
from coinpilot.engine.loop.failures import failure_message, record_failures
from coinpilot.engine.loop.market import fetch_candles, fetch_quotes, score_all
from coinpilot.engine.loop.record import EvaluationRecorder
from coinpilot.engine.risk.breaker import CircuitBreaker, CycleHealth
from coinpilot.exchange.base import MarketData

log = logging.getLogger("coinpilot.engine")

AfterEvaluation = Callable[[BotEvaluation], None]


@dataclass
class CycleReport:
    due: int = 0
    evaluated: int = 0
    failed: int = 0
    orders: int = 0
    refused: int = 0
    seconds: float = 0.0
    errors: dict[int, str] = field(default_factory=dict)
    evaluated_ids: frozenset[int] = frozenset()
    quotes: dict[str, BestBidAsk] = field(default_factory=dict)


class EvaluationScheduler:
    def __init__(
        self,
        evaluations: EvaluationService,
        interval_seconds: float,
        after_evaluation: AfterEvaluation | None = None,
        bot_filter: Callable[[list[int]], list[int]] | None = None,
        *,
        market: MarketData | None = None,
        trading: TradingStep | None = None,
        breaker: CircuitBreaker | None = None,
        mode: TradingMode | None = None,
        retention: int = 1000,
    ) -> None:
        self._evals = evaluations
        self._interval = interval_seconds
        self._after = after_evaluation
        self._filter = bot_filter
        self._market: MarketData = market if market is not None else evaluations._market
        self._trading = trading
        self._breaker = breaker
        self._mode = mode or (trading.mode if trading else TradingMode.MOCK)
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._configs = ConfigCache()
        self._protection = protection.ProtectionBook(evaluations.sessions, self._mode, self._configs)
        self._recorder = EvaluationRecorder(evaluations.sessions, self._mode, interval_seconds, retention)
        self.last_report = CycleReport()

    @property
    def interval(self) -> float:
        return self._interval

    def _lock_for(self, bot_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(bot_id, threading.Lock())

    def due_bot_ids(self) -> list[int]:
        ids = due_bots.due_bot_ids(self._evals.sessions, self._evals.clock.now())
        return self._filter(ids) if self._filter else ids

    def run_once(self) -> int:
        """One engine tick: a cycle over every due bot, then the protection pass over every bot
        holding a position that the cycle did not evaluate. Returns how many were evaluated."""
        report = self.run_cycle(self.due_bot_ids())
        self.protect(skip=report.evaluated_ids, quotes=report.quotes)
        return report.evaluated

    def evaluate_one(self, bot_id: int) -> bool:
        """Evaluate (and trade) one bot now, whether due or not."""
        return self.run_cycle([bot_id]).evaluated == 1

    def run_cycle(self, bot_ids: Iterable[int]) -> CycleReport:
        started = time.perf_counter()
        held: list[tuple[int, threading.Lock]] = []
        for bot_id in bot_ids:
            lock = self._lock_for(bot_id)
            if lock.acquire(blocking=False):  # busy: this bot is being evaluated, never overlap
                held.append((bot_id, lock))
        report = CycleReport(due=len(held))
        try:
            if held:
                with self._breaker_cycle() as health:
                    self._cycle([b for b, _ in held], report)
                    health.answered = report.evaluated > 0
        finally:
            for _, lock in held:
                lock.release()
        report.seconds = time.perf_counter() - started
        self.last_report = report
        return report

    # ---- the cycle ---------------------------------------------------------------------
    def _cycle(self, ids: list[int], report: CycleReport) -> None:
        clock = self._evals.clock
        now = clock.now()
        failures: dict[int, BaseException] = {}
        loaded = due_bots.load_running(self._evals.sessions, ids, self._configs, failures)

        # Market data: one candle fetch per (pair, granularity, window); one quote call.
        candles = fetch_candles(self._market, loaded, now, failures, self._exchange_failure)
        quotes = self._quotes(sorted({loaded[b].config.pair for b in candles}))

        # Scores for everyone at once; a bad config falls back to one-by-one so only it fails.
        order = [b for b in ids if b in candles]
        results = score_all(order, loaded, candles, failures)

        evaluations = self._record(results, loaded, quotes, now, failures)
        report.evaluated = len(evaluations)
        report.quotes = quotes
        report.evaluated_ids = frozenset(e.bot_id for e in evaluations if e.pair in quotes)
        if failures:
            self._record_failures(failures)
            report.failed = len(failures)
            report.errors = {b: failure_message(e) for b, e in failures.items()}
        for ev in evaluations:
            if self._after is not None:
                try:
                    self._after(ev)
                except Exception:
                    log.exception("after-evaluation hook failed for bot %s", ev.bot_id)
        if self._trading is not None and evaluations:
            self._trade(evaluations, quotes, report)

    def _quotes(self, pairs: list[str]) -> dict[str, BestBidAsk]:
        return fetch_quotes(self._market, pairs, self._exchange_failure)

    def _record(
        self,
        results: dict[int, Evaluation],
        loaded: dict[int, LoadedBot],
        quotes: dict[str, BestBidAsk],
        now: datetime,
        failures: dict[int, BaseException],
    ) -> list[BotEvaluation]:
        """Confirmation, runtime, high-water mark and history for every bot: one transaction."""
        return self._recorder.record(results, loaded, quotes, now, failures)

    def _trade(
        self, evaluations: list[BotEvaluation], quotes: dict[str, BestBidAsk], report: CycleReport
    ) -> None:
        assert self._trading is not None
        limits = self._trading.limits
        ids = [e.bot_id for e in evaluations]
        views = self._views(ids)
        for ev in evaluations:
            view = views.get(ev.bot_id)
            quote = quotes.get(ev.pair)
            if view is None or quote is None:
                continue
            started = time.perf_counter()
            signal = Signal(
                action=ev.evaluation.action,
                confirmed=ev.confirmation.confirmed,
                temperature=ev.temperature.level,
                score=ev.evaluation.score,
                snapshot={
                    "score": ev.evaluation.score,
                    "action": ev.evaluation.action.value,
                    "bid": format(quote.bid, "f"),
                    "ask": format(quote.ask, "f"),
                    "evaluated_at": ev.at.isoformat(),
                    "signals": ev.evaluation.breakdown(),
                },
                confirmation=ev.confirmation.to_dict(),
            )
            try:
                product = self._market.get_product(ev.pair)
                strategy = self._configs.strategy(ev.bot_id)
                plan = decide(
                    view,
                    signal,
                    quote.bid,
                    quote.ask,
                    product.base_increment,
                    limits,
                    strategy,
                    base_min_size=product.base_min_size,
                    quote_min_size=product.quote_min_size,
                )
                if plan is None:
                    continue
                outcome = self._trading.execute(view, plan, signal, started)
            except Exception as exc:  # one bot's trading failure never stops the others
                log.exception("bot %s: trading step failed", ev.bot_id)
                self._exchange_failure(f"trade bot {ev.bot_id}", exc)
                self._record_failures({ev.bot_id: exc})
                continue
            if outcome.placed:
                report.orders += 1
            elif outcome.result is not None:
                report.refused += 1

    def _views(
        self, ids: list[int], statuses: tuple[BotStatus, ...] = (BotStatus.RUNNING,)
    ) -> dict[int, BotView]:
        return due_bots.load_views(
            self._evals.sessions, self._mode, ids, statuses, self._configs, self._evals.clock.now()
        )

    def protect(self, skip: Iterable[int] = (), quotes: dict[str, BestBidAsk] | None = None) -> int:
        """The protection pass: stop-loss, trailing stop and take-profit for every bot holding a
        position, from the best bid alone, whatever the bot's status (RUNNING, PAUSED, ERROR,
        STOPPED) and whether or not its candles or signals evaluated. ``skip``: bots the cycle
        just evaluated (their exits were decided with the same bid); ``quotes``: the cycle's
        quotes, reused so only pairs it did not quote are fetched (in one call).

        The high-water mark of every such bot moves with the bid first, so a trailing stop
        follows the price even while the bot is not evaluated. Returns the orders placed."""
        if self._trading is None:
            return 0
        skipped = set(skip)
        pairs = {b: p for b, p in protection.holding(self._evals.sessions, self._mode) if b not in skipped}
        ids = self._filter(list(pairs)) if self._filter else list(pairs)
        if not ids:
            return 0
        held: list[tuple[int, threading.Lock]] = []
        with self._locks_guard:  # one guard for the thousand look-ups of a tick
            locks = [(b, self._locks.setdefault(b, threading.Lock())) for b in ids]
        for bot_id, lock in locks:
            if lock.acquire(blocking=False):  # busy: being evaluated right now, which checks exits
                held.append((bot_id, lock))
        try:
            known = dict(quotes or {})
            missing = sorted({pairs[b] for b, _ in held} - set(known))
            if missing:
                with self._breaker_cycle() as health:
                    fetched = self._quotes(missing)
                    health.answered = bool(fetched)
                known.update(fetched)
            return self._protect([b for b, _ in held], known)
        finally:
            for _, lock in held:
                lock.release()

    def _protect(self, ids: list[int], quotes: dict[str, BestBidAsk]) -> int:
        assert self._trading is not None
        if not ids or not quotes:
            return 0  # no quotes (the call failed): nothing to decide on, marks unchanged
        # Marks move and are stored first; only bots whose bid is near a level get a view.
        views, marks = self._protection.check(ids, quotes)
        protection.write_high_water(self._evals.sessions, marks)
        placed = 0
        products: dict[str, Product] = {}
        for bot_id, view in views.items():
            quote = quotes.get(view.pair)
            if quote is None:
                continue
            try:
                product = products.get(view.pair) or self._market.get_product(view.pair)
                products[view.pair] = product
                plan = decide(
                    view,
                    None,
                    quote.bid,
                    quote.ask,
                    product.base_increment,
                    self._trading.limits,
                    self._configs.strategy(bot_id),
                    base_min_size=product.base_min_size,
                    quote_min_size=product.quote_min_size,
                )
                if plan is not None and self._trading.execute(view, plan, None, time.perf_counter()).placed:
                    placed += 1
            except Exception:
                log.exception("bot %s: protecting the position failed", bot_id)
        return placed

    # ---- failures ----------------------------------------------------------------------
    def _breaker_cycle(self) -> AbstractContextManager[CycleHealth]:
        """One cycle is one exchange-breaker failure however many pairs or bots failed in it."""
        return self._breaker.cycle() if self._breaker is not None else nullcontext(CycleHealth())

    def _exchange_failure(self, source: str, exc: BaseException) -> None:
        if self._breaker is not None and bot_loop.is_exchange_failure(exc):
            self._breaker.record_failure(source, exc)

    def _record_failures(self, failures: dict[int, BaseException]) -> None:
        record_failures(self._evals.sessions, self._evals.clock.now(), self._interval, failures)
