"""Which RUNNING bots are due, and evaluating them one at a time each.

A bot's evaluation never overlaps another of the same bot (per-bot lock); one bot's failure is
recorded on that bot with an exponential back-off and never stops the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from coinpilot.domain.types import BotStatus
from coinpilot.engine.evaluator import BotEvaluation, EvaluationService
from coinpilot.store.db import session_scope
from coinpilot.store.models import Bot, BotRuntime

log = logging.getLogger("coinpilot.engine")

MAX_ERRORS_BEFORE_ERROR_STATUS = 5
MAX_BACKOFF_SECONDS = 3600.0

AfterEvaluation = Callable[[BotEvaluation], None]


class EvaluationScheduler:
    def __init__(
        self,
        evaluations: EvaluationService,
        interval_seconds: float,
        after_evaluation: AfterEvaluation | None = None,
        bot_filter: Callable[[list[int]], list[int]] | None = None,
    ) -> None:
        self._evals = evaluations
        self._interval = interval_seconds
        self._after = after_evaluation
        self._filter = bot_filter
        self._locks: dict[int, threading.Lock] = {}
        self._locks_guard = threading.Lock()

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
        """Evaluate every due bot once; returns how many were evaluated successfully."""
        done = 0
        for bot_id in self.due_bot_ids():
            if self.evaluate_one(bot_id):
                done += 1
        return done

    def evaluate_one(self, bot_id: int) -> bool:
        lock = self._lock_for(bot_id)
        if not lock.acquire(blocking=False):
            return False  # this bot is already being evaluated: never overlap
        try:
            result = self._evals.evaluate_bot(bot_id)
            self._schedule_next(bot_id, self._interval)
            if self._after is not None:
                self._after(result)
            return True
        except Exception as exc:
            self._record_failure(bot_id, exc)
            return False
        finally:
            lock.release()

    def _schedule_next(self, bot_id: int, seconds: float) -> None:
        with session_scope(self._evals.sessions) as s:
            rt = s.get(BotRuntime, bot_id)
            if rt is not None:
                rt.next_evaluation_at = self._evals.clock.now() + timedelta(seconds=seconds)

    def _record_failure(self, bot_id: int, exc: Exception) -> None:
        message = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        log.warning("bot %s evaluation failed: %s", bot_id, message)
        with session_scope(self._evals.sessions) as s:
            bot = s.get(Bot, bot_id)
            if bot is None:
                return
            rt = bot.runtime or BotRuntime(bot_id=bot_id)
            if bot.runtime is None:
                s.add(rt)
            rt.consecutive_errors = (rt.consecutive_errors or 0) + 1
            rt.last_error = str(message)[:1000]
            backoff = min(MAX_BACKOFF_SECONDS, self._interval * (2 ** min(rt.consecutive_errors, 12)))
            rt.next_evaluation_at = self._evals.clock.now() + timedelta(seconds=backoff)
            if rt.consecutive_errors >= MAX_ERRORS_BEFORE_ERROR_STATUS:
                bot.status = BotStatus.ERROR
                bot.status_reason = f"{rt.consecutive_errors} evaluations failed in a row: {message}"[:500]
