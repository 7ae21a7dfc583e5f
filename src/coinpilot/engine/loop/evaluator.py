"""Evaluate one bot: shared candles → signals → temperature → confirmation → stored state.

This is the read-the-market half of the bot loop; the trading half (decide → safety → execute)
builds on its result. Both the scheduler and ``POST /bots/{id}/evaluate`` call it, so a manual
evaluation and a scheduled one are the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.clock import Clock
from coinpilot.domain.confirmation import ConfirmationState, ConfirmationStatus, advance, max_unobserved
from coinpilot.domain.cooling import history_needed_since
from coinpilot.domain.market import BestBidAsk
from coinpilot.domain.signal_config import required_candles
from coinpilot.domain.signals import Evaluation, evaluate
from coinpilot.domain.temperature import Temperature, temperature
from coinpilot.exchange.base import MarketData
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import session_scope


class BotNotFound(LookupError):
    pass


@dataclass(frozen=True)
class BotEvaluation:
    bot_id: int
    pair: str
    at: datetime
    evaluation: Evaluation
    temperature: Temperature
    confirmation: ConfirmationStatus
    price: Decimal | None
    quote: BestBidAsk | None
    config: BotConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot_id,
            "pair": self.pair,
            "evaluated_at": self.at.isoformat(),
            "score": self.evaluation.score,
            "action": self.evaluation.action.value,
            "sufficient_data": self.evaluation.sufficient,
            "price": None if self.price is None else format(self.price, "f"),
            "signals": self.evaluation.breakdown(),
            "temperature": self.temperature.to_dict(),
            "confirmation": self.confirmation.to_dict(),
        }


STALE_TOLERANCE = timedelta(minutes=1)


class StaleEvaluation(Exception):
    """An evaluation dated before the bot's latest one: storing it would put an old score, price
    and confirmation on the dashboard as if current (a CLI on another replay clock than the demo)."""


class EvaluationService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        market: MarketData,
        clock: Clock,
        retention: int = 1000,
    ) -> None:
        self._sessions = session_factory
        self._market = market
        self._clock = clock
        self._retention = retention

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    def load_config(self, bot_id: int) -> BotConfig:
        with self._sessions() as s:
            bot = bot_repo.get_bot(s, bot_id)
            if bot is None:
                raise BotNotFound(f"bot {bot_id} not found")
            return bot_repo.bot_config(bot)

    def fetch_and_score(self, bot_id: int, cfg: BotConfig) -> tuple[Evaluation, BestBidAsk | None, datetime]:
        """Market data and pure scoring; no database writes."""
        now = self._clock.now()
        g = cfg.granularity.seconds
        need = required_candles(cfg.signals)
        start = now - timedelta(seconds=g * (need + 2))
        candles = self._market.get_candles(cfg.pair, cfg.granularity, start, now)
        result = evaluate(candles, cfg.signals, cfg.buy_threshold, cfg.sell_threshold)
        quote = self._market.get_best_bid_ask([cfg.pair]).get(cfg.pair)
        return result, quote, now

    def evaluate_bot(self, bot_id: int) -> BotEvaluation:
        cfg = self.load_config(bot_id)
        result, quote, now = self.fetch_and_score(bot_id, cfg)
        return self.record(bot_id, cfg, result, quote, now)

    def record(
        self,
        bot_id: int,
        cfg: BotConfig,
        result: Evaluation,
        quote: BestBidAsk | None,
        now: datetime,
    ) -> BotEvaluation:
        temp = temperature(result.score, cfg.buy_threshold, cfg.sell_threshold)
        price = (
            quote.mid
            if quote is not None
            else (Decimal(str(result.price)) if result.price is not None else None)
        )
        with session_scope(self._sessions) as s:
            bot = bot_repo.get_bot(s, bot_id)
            if bot is None:
                raise BotNotFound(f"bot {bot_id} not found")
            rt = bot_repo.runtime_of(s, bot)
            latest = rt.last_evaluated_at
            if latest is not None and now < latest - STALE_TOLERANCE:
                raise StaleEvaluation(
                    f"not stored: this process's clock says {now.isoformat(timespec='seconds')}, but bot "
                    f"{bot_id} was last evaluated at {latest.isoformat(timespec='seconds')}; it runs on "
                    "another clock than the server (a replay clock of another database?)"
                )
            state = bot_repo.confirmation_state(rt)
            # No engine interval here (an evaluation on request): a gap of one candle restarts.
            new_state, status = advance(
                state,
                result.action,
                now,
                cfg.confirmation,
                last_seen=rt.last_evaluated_at,
                max_gap=max_unobserved(0, cfg.granularity.seconds),
            )
            bot_repo.save_confirmation(rt, new_state)
            rt.last_evaluated_at = now
            rt.last_score = result.score
            rt.last_action = result.action
            rt.last_temperature = temp.level
            # The mark every figure values the position at (overview, metrics, the daily loss
            # breaker): the best bid, what a sale would get; the mid only without a quote.
            rt.last_price = quote.bid if quote is not None else price
            rt.last_breakdown = result.breakdown()
            rt.last_error = None
            rt.consecutive_errors = 0
            bot_repo.record_evaluation(
                s,
                bot,
                at=now,
                price=price,
                score=result.score,
                action=result.action,
                temperature=temp.level,
                breakdown=result.breakdown(),
                confirmation=status.to_dict(),
                retention=self._retention,
                keep_since=history_needed_since(cfg.strategy, now),
            )
        return BotEvaluation(bot_id, cfg.pair, now, result, temp, status, price, quote, cfg)

    def record_error(self, bot_id: int, message: str, backoff_until: datetime | None) -> int:
        """Remember a failed evaluation; returns the bot's consecutive error count."""
        with session_scope(self._sessions) as s:
            bot = bot_repo.get_bot(s, bot_id)
            if bot is None:
                return 0
            rt = bot_repo.runtime_of(s, bot)
            rt.last_error = message[:1000]
            rt.consecutive_errors = (rt.consecutive_errors or 0) + 1
            rt.next_evaluation_at = backoff_until
            bot_repo.save_confirmation(rt, ConfirmationState())  # the signal was not observed
            return rt.consecutive_errors
