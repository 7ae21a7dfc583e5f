"""A scripted market and a wired engine for the bot-loop tests.

``ScriptedMarket`` lets a test choose, at each step, what the signals say and what the price is:

- the *regime* sets the candles: ``"buy"`` = steadily falling closes (RSI ~0 -> score +1),
  ``"sell"`` = steadily rising closes (RSI ~100 -> score -1), ``"hold"`` = alternating closes
  (RSI 50 -> score 0). Bots use an RSI-only signal config, so the action is exactly the regime;
- the *price* sets bid/ask (ask = price, bid = price - 0.01) through the ``StaticMarket`` the
  ``FakeExchange`` fills against, so fills happen at the scripted price.

Every call is counted (``calls``) so tests can check exchange calls per cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.trading_state import EXCHANGE_BREAKER
from coinpilot.domain.types import BotStatus, Granularity, TradingMode
from coinpilot.engine.loop.bot_loop import TradingStep
from coinpilot.engine.loop.evaluator import EvaluationService
from coinpilot.engine.loop.scheduler import EvaluationScheduler
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.risk.breaker import CircuitBreaker
from coinpilot.engine.risk.control import ControlService
from coinpilot.exchange.base import CallCounter, ExchangeUnavailable
from coinpilot.store.models import Bot, BotRuntime
from tests.integration._fakes import FakeExchange, StaticMarket

D = Decimal
RSI_ONLY = {"rsi": {"weight": 1.0}, "ma_crossover": {"enabled": False}, "macd": {"enabled": False}}
INTERVAL = 60.0


class ScriptedMarket(StaticMarket):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, {})
        self.regime: dict[str, str] = {}
        self.broken: dict[str, Exception] = {}  # pair -> error raised by get_candles
        self.calls = CallCounter()

    def set(self, pair: str, price: str | Decimal, regime: str | None = None) -> None:
        p = D(price)
        self.prices[pair] = (p - D("0.01"), p)
        if regime is not None:
            self.regime[pair] = regime

    def get_product(self, pair: str) -> Product:
        self.calls.hit("get_product")
        return super().get_product(pair)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        self.calls.hit("get_best_bid_ask")
        return super().get_best_bid_ask(pairs)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        self.calls.hit("get_candles")
        if pair in self.broken:
            raise self.broken[pair]
        n = 40
        g = granularity.seconds
        last = int(end.timestamp()) // g * g - g
        starts = np.arange(last - (n - 1) * g, last + 1, g, dtype=np.int64)
        regime = self.regime.get(pair, "hold")
        if regime == "buy":
            close = 100.0 - np.arange(n, dtype=np.float64) * 0.5
        elif regime == "sell":
            close = 100.0 + np.arange(n, dtype=np.float64) * 0.5
        else:
            close = 100.0 + np.where(np.arange(n) % 2 == 0, 0.5, -0.5)
        return Candles(
            pair, granularity, starts, close.copy(), close + 1, close - 1, close.copy(), np.ones(n)
        )


@dataclass
class Rig:
    sf: sessionmaker[Session]
    clock: FakeClock
    market: ScriptedMarket
    exchange: FakeExchange
    trades: TradeService
    sync: OrderSync
    control: ControlService
    step: TradingStep
    breaker: CircuitBreaker
    scheduler: EvaluationScheduler
    tripped: list[str] = field(default_factory=list)

    def tick(self, seconds: float = INTERVAL) -> None:
        """One engine cycle, the order sync a second later, then the rest of the interval."""
        self.scheduler.run_once()
        self.clock.advance(1)
        self.sync.sync_once()
        self.clock.advance(seconds - 1)


def make_rig(
    sf: sessionmaker[Session],
    clock: FakeClock,
    limits: SafetyLimits,
    *,
    breaker_threshold: int = 5,
    fill_delay_seconds: float = 0.2,
    recover_after_seconds: float = 600,
    retention: int = 1000,
) -> Rig:
    market = ScriptedMarket(clock)
    exchange = FakeExchange(
        clock, market=market, fill_delay_seconds=fill_delay_seconds, balances={"USD": D("5000")}
    )
    trades = TradeService(sf, exchange, clock, TradingMode.MOCK, limits)
    sync = OrderSync(sf, exchange, clock, TradingMode.MOCK)
    control = ControlService(sf, clock, TradingMode.MOCK, exchange=exchange, trade_service=trades)
    tripped: list[str] = []

    def trip(reason: str) -> None:
        tripped.append(reason)
        control.breaker_trip(EXCHANGE_BREAKER, reason)

    def recover(reason: str) -> None:
        control.breaker_recover(EXCHANGE_BREAKER, reason)

    breaker = CircuitBreaker(
        trip,
        clock,
        threshold=breaker_threshold,
        window_seconds=600,
        recover=recover,
        recover_after_seconds=recover_after_seconds,
    )
    step = TradingStep(sf, trades, clock, on_exchange_error=breaker.record_failure)
    evaluations = EvaluationService(sf, market, clock, retention)
    scheduler = EvaluationScheduler(
        evaluations,
        INTERVAL,
        market=market,
        trading=step,
        breaker=breaker,
        mode=TradingMode.MOCK,
        retention=retention,
    )
    return Rig(sf, clock, market, exchange, trades, sync, control, step, breaker, scheduler, tripped)


def add_bot(
    sf: sessionmaker[Session],
    clock: FakeClock,
    pair: str,
    *,
    strategy: dict[str, Any] | None = None,
    confirmation_minutes: float = 2,
    cooldown_minutes: float = 0,
    max_tranches: int = 3,
    trade_size: str = "20",
    status: BotStatus = BotStatus.RUNNING,
) -> int:
    now = clock.now()
    with sf() as s, s.begin():
        bot = Bot(
            name=f"bot-{pair}-{uuid.uuid4().hex[:6]}",
            pair=pair,
            status=status,
            signal_config=RSI_ONLY,
            buy_threshold=0.5,
            sell_threshold=0.5,
            confirmation_minutes=confirmation_minutes,
            trade_size_usd=D(trade_size),
            cooldown_minutes=cooldown_minutes,
            max_tranches=max_tranches,
            strategy=strategy or {},
            created_at=now,
            updated_at=now,
        )
        bot.runtime = BotRuntime(consecutive_errors=0)
        s.add(bot)
        s.flush()
        return bot.id


def unavailable(what: str = "market data") -> ExchangeUnavailable:
    return ExchangeUnavailable(f"{what} timed out", code="TIMEOUT")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
