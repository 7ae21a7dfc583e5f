"""One cycle's evaluations written in one transaction.

Split from the scheduler because this is the cycle's only write: for every scored bot the
confirmation state, runtime (last score, next due time, high-water mark) and a history row, plus
a staggered prune of old history (never of what the bot's cooling exit still needs). One
transaction per cycle, however many bots.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.confirmation import advance, max_unobserved
from coinpilot.domain.cooling import history_needed_since
from coinpilot.domain.market import BestBidAsk
from coinpilot.domain.signals import Evaluation
from coinpilot.domain.temperature import temperature
from coinpilot.domain.types import TradingMode
from coinpilot.engine.loop import bot_loop
from coinpilot.engine.loop.due_bots import LoadedBot
from coinpilot.engine.loop.evaluator import BotEvaluation
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import session_scope
from coinpilot.store.models import BotRuntime
from coinpilot.store.models import Evaluation as EvaluationRow
from coinpilot.store.repos import positions as position_repo

PRUNE_EVERY = 50  # prune a bot's history every N of its evaluations (staggered by bot id)


class EvaluationRecorder:
    """Writes each cycle's evaluations; counts them per bot to know when to prune its history."""

    def __init__(
        self, sessions: sessionmaker[Session], mode: TradingMode, interval_seconds: float, retention: int
    ) -> None:
        self._sessions = sessions
        self._mode = mode
        self._interval = interval_seconds
        self._retention = retention
        self._eval_counts: dict[int, int] = {}

    def record(
        self,
        results: dict[int, Evaluation],
        loaded: dict[int, LoadedBot],
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
        with session_scope(self._sessions) as s:
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
                state, status = advance(
                    bot_repo.confirmation_state(rt),
                    result.action,
                    now,
                    cfg.confirmation,
                    last_seen=rt.last_evaluated_at,
                    max_gap=max_unobserved(self._interval, cfg.granularity.seconds),
                )
                bot_repo.save_confirmation(rt, state)
                breakdown = result.breakdown()
                rt.last_evaluated_at = now
                rt.last_score = result.score
                rt.last_action = result.action
                rt.last_temperature = temp.level
                # The mark every figure values the position at (overview, metrics, the daily loss
                # breaker): the best bid, what a sale would get; the mid only without a quote.
                rt.last_price = quote.bid if quote is not None else price
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
                since = history_needed_since(loaded[b].strategy, now)
                bot_repo.prune_evaluations(s, b, self._retention, since)
        return out
