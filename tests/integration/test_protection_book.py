"""The protection pass remembers each holding bot between ticks (engine/loop/protection.py):
what it remembers must follow every change made elsewhere, on the next tick — a take-profit
rung taken, a strategy edited while holding, a high-water mark written by another writer."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import BotStatus, TradeIntent
from coinpilot.engine.loop import protection
from coinpilot.store.models import Bot, BotRuntime, Trade
from tests.integration._engine import add_bot, make_rig
from tests.integration._fakes import TEST_LIMITS, enable_trading

D = Decimal
PAIR = "BTC-USD"


def _intents(sf, bot_id):
    with sf() as s:
        return [
            t.intent for t in s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id).order_by(Trade.id))
        ]


def _stopped_bot_holding_at_100(rig, sf, clock, strategy):
    bot = add_bot(sf, clock, PAIR, strategy={"dca_step_pct": "0", **strategy}, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY]
    with sf() as s, s.begin():
        s.get(Bot, bot).status = BotStatus.STOPPED  # only the protection pass acts from now on
    rig.market.set(PAIR, "100", "hold")
    rig.tick()
    return bot


def test_each_take_profit_rung_fires_once_and_the_next_one_at_its_own_target(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    ladder = {"stop_loss_pct": None, "take_profit_ladder": [["10", "50"], ["20", "100"]]}
    bot = _stopped_bot_holding_at_100(rig, sf, clock, ladder)
    rig.market.set(PAIR, "112")  # above +10%, below +20%
    for _ in range(3):
        rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY, TradeIntent.TAKE_PROFIT]
    rig.market.set(PAIR, "125")
    rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY, TradeIntent.TAKE_PROFIT, TradeIntent.TAKE_PROFIT]


def test_a_stop_loss_edited_while_holding_is_used_on_the_next_tick(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = _stopped_bot_holding_at_100(rig, sf, clock, {"stop_loss_pct": "20", "take_profit_ladder": []})
    rig.market.set(PAIR, "90")  # inside a 20% stop
    rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY]
    with sf() as s, s.begin():
        b = s.get(Bot, bot)
        b.strategy = {"dca_step_pct": "0", "stop_loss_pct": "5", "take_profit_ladder": []}
        b.updated_at = clock.now() + timedelta(seconds=1)
    rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]


def test_a_high_water_mark_written_by_another_writer_is_read_again(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    trailing = {"stop_loss_pct": None, "take_profit_ladder": [], "trailing_stop_pct": "10"}
    bot = _stopped_bot_holding_at_100(rig, sf, clock, trailing)
    rig.market.set(PAIR, "150")
    rig.tick()
    with sf() as s, s.begin():
        assert s.get(BotRuntime, bot).high_water_price == D("149.99")  # moved and stored
        s.get(BotRuntime, bot).high_water_price = D("200")  # e.g. another worker saw 200
    rig.tick()  # bid 149.99 <= 200 x 0.9
    assert _intents(sf, bot) == [TradeIntent.ENTRY, TradeIntent.TRAILING_STOP]


def test_a_tick_that_fails_half_way_through_leaves_nothing_stale(session_factory, clock, monkeypatch):
    """A read failing after the book saw a change must not leave it believing it is up to date:
    the rung taken must still be known on the next tick (not sold a second time)."""

    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    ladder = {"stop_loss_pct": None, "take_profit_ladder": [["10", "50"], ["20", "100"]]}
    bot = _stopped_bot_holding_at_100(rig, sf, clock, ladder)
    rig.market.set(PAIR, "112")
    rig.tick()  # rung 0 sold (and settled by the sync)
    real = protection.bot_loop.rungs_taken

    def failing(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(protection.bot_loop, "rungs_taken", failing)
    with pytest.raises(RuntimeError):
        rig.scheduler.run_once()
    monkeypatch.setattr(protection.bot_loop, "rungs_taken", real)
    for _ in range(2):
        rig.tick()
    assert _intents(sf, bot) == [TradeIntent.ENTRY, TradeIntent.TAKE_PROFIT]
