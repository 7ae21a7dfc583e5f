"""Confirmation starts over when nobody watched the signal hold: after a gap longer than twice
the evaluation interval or one candle (downtime, a forward clock jump), after a failed
evaluation (error back-off), and when a person starts the bot (issue 9)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from coinpilot.domain.types import TradeIntent, TradingMode
from coinpilot.engine.bots import control as bot_control
from coinpilot.store.models import Bot, BotRuntime, Trade
from tests.integration._engine import add_bot, make_rig, unavailable
from tests.integration._fakes import TEST_LIMITS, enable_trading

PAIR = "BTC-USD"
NO_EXITS = {"take_profit_ladder": [], "stop_loss_pct": None, "dca_step_pct": "0"}


def _entries(sf, bot_id) -> int:
    with sf() as s:
        return len(
            list(s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id, Trade.intent == TradeIntent.ENTRY)))
        )


def _setup(sf, clock):
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=1000)
    bot = add_bot(sf, clock, PAIR, strategy=NO_EXITS, confirmation_minutes=30)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()  # BUY starts confirming (30 minutes needed)
    with sf() as s:
        assert s.get(BotRuntime, bot).confirm_since is not None
    return rig, bot


def test_the_first_buy_after_a_two_hour_gap_starts_its_confirmation_over(session_factory, clock):
    sf = session_factory
    rig, bot = _setup(sf, clock)
    clock.advance(2 * 3600)  # engine down (or the clock jumped forward) for 2 hours
    rig.tick()
    assert _entries(sf, bot) == 0
    with sf() as s:
        assert s.get(BotRuntime, bot).confirm_since == clock.now() - timedelta(seconds=60)
    for _ in range(29):
        rig.tick()
    assert _entries(sf, bot) == 0
    rig.tick()  # 30 minutes of watched BUY since the gap
    assert _entries(sf, bot) == 1


def test_a_gap_of_one_candle_keeps_the_confirmation(session_factory, clock):
    sf = session_factory
    rig, bot = _setup(sf, clock)
    rig.clock.advance(3600 - 60)  # exactly one (hourly) candle since the last evaluation
    rig.tick()
    assert _entries(sf, bot) == 1


def test_a_failed_evaluation_restarts_the_confirmation(session_factory, clock):
    sf = session_factory
    rig, bot = _setup(sf, clock)
    for _ in range(20):
        rig.tick()
    rig.market.broken[PAIR] = unavailable("candles")
    with sf() as s, s.begin():
        s.get(BotRuntime, bot).next_evaluation_at = None
    rig.tick()
    with sf() as s:
        rt = s.get(BotRuntime, bot)
        assert rt.consecutive_errors == 1 and rt.confirm_since is None
    del rig.market.broken[PAIR]
    clock.advance(600)
    with sf() as s, s.begin():
        s.get(BotRuntime, bot).next_evaluation_at = None
    rig.tick()  # 30+ minutes after the first BUY, but the failure broke the watch
    assert _entries(sf, bot) == 0


def test_stopping_and_starting_a_bot_restarts_its_confirmation(session_factory, clock):
    sf = session_factory
    rig, bot = _setup(sf, clock)
    for _ in range(29):
        rig.tick()
    with sf() as s, s.begin():
        b = s.get(Bot, bot)
        bot_control.stop(s, b, now=clock.now(), actor="t", mode=TradingMode.MOCK, close_position=False)
        bot_control.start(s, b, now=clock.now(), actor="t", mode=TradingMode.MOCK)
    rig.tick()
    assert _entries(sf, bot) == 0
