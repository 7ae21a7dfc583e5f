"""The minimum entry temperature is enforced on the real order path, from the bot's evaluation."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.types import Side, TemperatureLevel, TradeIntent, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.store.models import Bot, BotRuntime, Trade
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

WARM_MIN = replace(TEST_LIMITS, min_entry_temperature=TemperatureLevel.WARM)


def _evaluated(session_factory, bot_id: int, score: float) -> None:
    with session_factory() as s, s.begin():
        s.execute(sa.update(Bot).where(Bot.id == bot_id).values(buy_threshold=0.5, sell_threshold=0.5))
        s.add(BotRuntime(bot_id=bot_id, last_score=score, consecutive_errors=0))


def test_a_manual_buy_of_a_cool_bot_is_refused_and_nothing_is_sent(session_factory, clock) -> None:
    exchange = FakeExchange(clock)
    service = TradeService(session_factory, exchange, clock, TradingMode.MOCK, WARM_MIN)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    _evaluated(session_factory, bot, 0.2)  # ratio 0.4: cool
    result = service.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.MANUAL)
    assert not result.allowed
    assert [r["code"] for r in result.decision["reasons"]] == ["TOO_COOL"]
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == 0


def test_a_warm_bot_may_buy(session_factory, clock) -> None:
    service = TradeService(session_factory, FakeExchange(clock), clock, TradingMode.MOCK, WARM_MIN)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    _evaluated(session_factory, bot, 0.35)  # ratio 0.7: warm
    assert service.execute(bot, Side.BUY, quote_size=Decimal("20")).allowed


def test_a_bot_never_evaluated_cannot_buy_under_a_minimum(session_factory, clock) -> None:
    service = TradeService(session_factory, FakeExchange(clock), clock, TradingMode.MOCK, WARM_MIN)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    result = service.execute(bot, Side.BUY, quote_size="20")
    assert [r["code"] for r in result.decision["reasons"]] == ["TEMPERATURE_UNKNOWN"]
