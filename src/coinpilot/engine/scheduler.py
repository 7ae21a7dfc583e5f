"""The bot loop: every due RUNNING bot, in one batched cycle.

fetch shared market data → score → confirmation → record → decide → safety → execute.

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
6. :func:`coinpilot.engine.bot_loop.decide` per bot, and the few resulting orders placed one by
   one through :class:`~coinpilot.engine.execution.TradeService` (safety decides).

A failure of one bot (bad config, no data for its pair, a failing order) is recorded on that bot
with an exponential back-off (ERROR after 5 in a row) and never stops the others or the loop.
Transient exchange failures are also counted by the circuit breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.confirmation import advance
from coinpilot.domain.market import BestBidAsk, Candles
from coinpilot.domain.signal_config import required_candles
from coinpilot.domain.signals import Evaluation, evaluate, evaluate_many
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.temperature import temperature
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.engine import bot_loop
from coinpilot.engine.bot_loop import BotView, Signal, TradingStep, decide, effective_strategy
from coinpilot.engine.breaker import CircuitBreaker
from coinpilot.engine.evaluator import BotEvaluation, EvaluationService
from coinpilot.exchange.base import MarketData
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import session_scope
from coinpilot.store.models import Bot, BotRuntime, Position
from coinpilot.store.models import Evaluation as EvaluationRow
from coinpilot.store.repos import positions as position_repo

log = logging.getLogger("coinpilot.engine")

MAX_ERRORS_BEFORE_ERROR_STATUS = 5
MAX_BACKOFF_SECONDS = 3600.0
PRUNE_EVERY = 50  # prune a bot's history every N of its evaluations (staggered by bot id)

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


@dataclass
class _Loaded:
    bot: Bot
    config: BotConfig
    strategy: StrategyConfig


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
        self._retention = retention
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._config_cache: dict[int, tuple[datetime, BotConfig, StrategyConfig]] = {}
        self._eval_counts: dict[int, int] = {}
        self.last_report = CycleReport()

    @property
    def interval(self) -> float:
        return self._interval

    def _lock_for(self, bot_id: int) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(bot_id, threading.Lock())

    def due_bot_ids(self) -> list[int]:
        now = self._evals.clock.now()
        with self._evals.sessions() as s:
            rows = s.execute(
                sa.select(Bot.id)
                .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
                .where(Bot.status == BotStatus.RUNNING)
                .where(sa.or_(BotRuntime.next_evaluation_at.is_(None), BotRuntime.next_evaluation_at <= now))
                .order_by(Bot.id)
            ).all()
        ids = [r[0] for r in rows]
        return self._filter(ids) if self._filter else ids

    def run_once(self) -> int:
        """One cycle over every due bot; returns how many were evaluated successfully."""
        return self.run_cycle(self.due_bot_ids()).evaluated

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
                self._cycle([b for b, _ in held], report)
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
        loaded = self._load(ids, failures)

        # Market data: one candle fetch per (pair, granularity, window); one quote call.
        windows: dict[tuple[str, Any, int], list[int]] = {}
        for bot_id, item in loaded.items():
            need = required_candles(item.config.signals)
            windows.setdefault((item.config.pair, item.config.granularity, need), []).append(bot_id)
        candles: dict[int, Candles] = {}
        for (pair, gran, need), members in windows.items():
            start = now - timedelta(seconds=gran.seconds * (need + 2))
            try:
                got = self._market.get_candles(pair, gran, start, now)
            except Exception as exc:
                self._exchange_failure(f"candles {pair}", exc)
                for b in members:
                    failures[b] = exc
                continue
            for b in members:
                candles[b] = got
        quotes = self._quotes(sorted({loaded[b].config.pair for b in candles}))

        # Scores for everyone at once; a bad config falls back to one-by-one so only it fails.
        order = [b for b in ids if b in candles]
        results = self._score(order, loaded, candles, failures)

        evaluations = self._record(results, loaded, quotes, now, failures)
        report.evaluated = len(evaluations)
        if failures:
            self._record_failures(failures)
            report.failed = len(failures)
            report.errors = {b: _message(e) for b, e in failures.items()}
        for ev in evaluations:
            if self._after is not None:
                try:
                    self._after(ev)
                except Exception:
                    log.exception("after-evaluation hook failed for bot %s", ev.bot_id)
        if self._trading is not None and evaluations:
            self._trade(evaluations, quotes, report)

    def _load(self, ids: list[int], failures: dict[int, BaseException]) -> dict[int, _Loaded]:
        out: dict[int, _Loaded] = {}
        with self._evals.sessions() as s:
            bots = s.scalars(sa.select(Bot).where(Bot.id.in_(ids))).unique().all()
            for bot in bots:
                if bot.status != BotStatus.RUNNING:
                    continue  # stopped/paused since it was found due
                cached = self._config_cache.get(bot.id)
                try:
                    if cached is not None and cached[0] == bot.updated_at:
                        cfg, strategy = cached[1], cached[2]
                    else:
                        cfg = bot_repo.bot_config(bot)
                        strategy = effective_strategy(bot.strategy, cfg)
                        self._config_cache[bot.id] = (bot.updated_at, cfg, strategy)
                except Exception as exc:
                    failures[bot.id] = ValueError(f"invalid bot configuration: {exc}")
                    continue
                s.expunge(bot)
                out[bot.id] = _Loaded(bot, cfg, strategy)
        return out

    def _quotes(self, pairs: list[str]) -> dict[str, BestBidAsk]:
        if not pairs:
            return {}
        try:
            return self._market.get_best_bid_ask(pairs)
        except Exception as exc:
            self._exchange_failure("best bid/ask", exc)
            log.warning("quotes unavailable this cycle (no orders placed): %s", _message(exc))
            return {}

    def _score(
        self,
        order: list[int],
        loaded: dict[int, _Loaded],
        candles: dict[int, Candles],
        failures: dict[int, BaseException],
    ) -> dict[int, Evaluation]:
        items = [
            (
                candles[b],
                loaded[b].config.signals,
                loaded[b].config.buy_threshold,
                loaded[b].config.sell_threshold,
            )
            for b in order
        ]
        try:
            return dict(zip(order, evaluate_many(items), strict=True))
        except Exception:
            out: dict[int, Evaluation] = {}
            for b, item in zip(order, items, strict=True):
                try:
                    out[b] = evaluate(*item)
                except Exception as exc:
                    failures[b] = exc
            return out

    def _record(
        self,
        results: dict[int, Evaluation],
        loaded: dict[int, _Loaded],
        quotes: dict[str, BestBidAsk],
        now: datetime,
        failures: dict[int, BaseException],
    ) -> list[BotEvaluation]:
        """Confirmation, runtime, high-water mark and history for every bot: one transaction."""
        if not results:
            return []
        prepared: list[tuple[int, Evaluation, Any, Decimal | None, BestBidAsk | None]] = []
        for b, result in results.items():
            cfg = loaded[b].config
            try:
                temp = temperature(result.score, cfg.buy_threshold, cfg.sell_threshold)
            except Exception as exc:
                failures[b] = exc
                continue
            quote = quotes.get(cfg.pair)
            if quote is not None:
                price: Decimal | None = quote.mid
            elif result.price is not None:
                price = Decimal(str(result.price))
            else:
                price = None
            prepared.append((b, result, temp, price, quote))
        out: list[BotEvaluation] = []
        next_at = now + timedelta(seconds=self._interval)
        with session_scope(self._evals.sessions) as s:
            ids = [p[0] for p in prepared]
            runtimes = {
                rt.bot_id: rt for rt in s.scalars(sa.select(BotRuntime).where(BotRuntime.bot_id.in_(ids)))
            }
            positions = bot_loop.load_positions(s, self._mode, ids)
            rows: list[EvaluationRow] = []
            to_prune: list[int] = []
            for b, result, temp, price, quote in prepared:
                cfg = loaded[b].config
                rt = runtimes.get(b)
                if rt is None:
                    rt = BotRuntime(bot_id=b, consecutive_errors=0)
                    s.add(rt)
                state, status = advance(bot_repo.confirmation_state(rt), result.action, now, cfg.confirmation)
                bot_repo.save_confirmation(rt, state)
                breakdown = result.breakdown()
                rt.last_evaluated_at = now
                rt.last_score = result.score
                rt.last_action = result.action
                rt.last_temperature = temp.level
                rt.last_price = price
                rt.last_breakdown = breakdown
                rt.last_error = None
                rt.consecutive_errors = 0
                rt.next_evaluation_at = next_at
                pos = positions.get(b)
                pos_state = position_repo.to_state(pos)
                rt.high_water_price = bot_loop.next_high_water(
                    pos_state, rt.high_water_price, quote.bid if quote else None
                )
                rows.append(
                    EvaluationRow(
                        bot_id=b,
                        evaluated_at=now,
                        price=price,
                        score=result.score,
                        action=result.action,
                        temperature=temp.level,
                        breakdown=breakdown,
                        confirmation=status.to_dict(),
                    )
                )
                n = self._eval_counts.get(b, 0) + 1
                self._eval_counts[b] = n
                if (n + b) % PRUNE_EVERY == 0:
                    to_prune.append(b)
                out.append(BotEvaluation(b, cfg.pair, now, result, temp, status, price, quote, cfg))
            s.add_all(rows)
            s.flush()
            for b in to_prune:
                bot_repo.prune_evaluations(s, b, self._retention)
        return out

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
                strategy = self._config_cache[ev.bot_id][2]
                plan = decide(view, signal, quote.bid, quote.ask, product.base_increment, limits, strategy)
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
        out: dict[int, BotView] = {}
        with self._evals.sessions() as s:
            bots = {
                b.id: b
                for b in s.scalars(sa.select(Bot).where(Bot.id.in_(ids), Bot.status.in_(statuses))).unique()
            }
            positions = bot_loop.load_positions(s, self._mode, bots)
            open_ids = bot_loop.bots_with_open_trades(s, self._mode, bots)
            opened = {
                b: p.opened_at for b, p in positions.items() if p.base_size > 0 and p.opened_at is not None
            }
            rungs = bot_loop.rungs_taken(s, self._mode, opened)
            for bot_id, bot in bots.items():
                cached = self._config_cache.get(bot_id)
                if cached is None or cached[0] != bot.updated_at:
                    cfg = bot_repo.bot_config(bot)
                    self._config_cache[bot_id] = (bot.updated_at, cfg, effective_strategy(bot.strategy, cfg))
                pos = positions.get(bot_id)
                out[bot_id] = BotView(
                    bot_id=bot_id,
                    pair=bot.pair,
                    status=BotStatus(bot.status),
                    config=self._config_cache[bot_id][1],
                    position=position_repo.to_state(pos),
                    position_opened_at=pos.opened_at if pos is not None else None,
                    high_water=bot.runtime.high_water_price if bot.runtime else None,
                    rungs_taken=rungs.get(bot_id, frozenset()),
                    has_open_trade=bot_id in open_ids,
                )
        return out

    def protect_paused(self) -> int:
        """Exit rules (stops, take-profit) for PAUSED bots that still hold a position."""
        if self._trading is None:
            return 0
        with self._evals.sessions() as s:
            ids = list(
                s.scalars(
                    sa.select(Bot.id)
                    .join(Position, Position.bot_id == Bot.id)
                    .where(Bot.status == BotStatus.PAUSED)
                    .where(Position.mode == self._mode, Position.base_size > 0)
                )
            )
        if self._filter:
            ids = self._filter(ids)
        if not ids:
            return 0
        views = self._views(ids, (BotStatus.PAUSED,))
        quotes = self._quotes(sorted({v.pair for v in views.values()}))
        placed = 0
        for bot_id, view in views.items():
            quote = quotes.get(view.pair)
            if quote is None:
                continue
            try:
                product = self._market.get_product(view.pair)
                strategy = self._config_cache[bot_id][2]
                plan = decide(
                    view, None, quote.bid, quote.ask, product.base_increment, self._trading.limits, strategy
                )
                if plan is not None and self._trading.execute(view, plan, None, time.perf_counter()).placed:
                    placed += 1
            except Exception:
                log.exception("bot %s: protecting the paused position failed", bot_id)
        return placed

    # ---- failures ----------------------------------------------------------------------
    def _exchange_failure(self, source: str, exc: BaseException) -> None:
        if self._breaker is not None and bot_loop.is_exchange_failure(exc):
            self._breaker.record_failure(source, exc)

    def _record_failures(self, failures: dict[int, BaseException]) -> None:
        now = self._evals.clock.now()
        with session_scope(self._evals.sessions) as s:
            for bot_id, exc in failures.items():
                message = _message(exc)
                log.warning("bot %s evaluation failed: %s", bot_id, message)
                bot = s.get(Bot, bot_id)
                if bot is None:
                    continue
                rt = bot.runtime
                if rt is None:
                    rt = BotRuntime(bot_id=bot_id, consecutive_errors=0)
                    bot.runtime = rt
                rt.consecutive_errors = (rt.consecutive_errors or 0) + 1
                rt.last_error = message[:1000]
                backoff = min(MAX_BACKOFF_SECONDS, self._interval * (2 ** min(rt.consecutive_errors, 12)))
                rt.next_evaluation_at = now + timedelta(seconds=backoff)
                if (
                    rt.consecutive_errors >= MAX_ERRORS_BEFORE_ERROR_STATUS
                    and bot.status == BotStatus.RUNNING
                ):
                    bot.status = BotStatus.ERROR
                    bot.status_reason = f"{rt.consecutive_errors} evaluations failed in a row: {message}"[
                        :500
                    ]
                    bot.updated_at = now


def _message(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else f"{type(exc).__name__}: {exc}"
