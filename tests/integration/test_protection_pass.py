"""The protection pass: every tick, every bot holding a position gets its stop-loss, trailing
stop and take-profit checked from the batched best bid, whatever its status and whether or not
its candles or signals evaluated (issue 9)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import BotStatus, TradeIntent
from coinpilot.store.models import Bot, BotRuntime, Position, Trade
from tests.integration._engine import add_bot, make_rig, unavailable
from tests.integration._fakes import TEST_LIMITS, enable_trading

D = Decimal
PAIR = "BTC-USD"
STOP_5 = {"take_profit_ladder": [], "stop_loss_pct": "5", "dca_step_pct": "0"}


def _trades(sf, bot_id):
    with sf() as s:
        return list(s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id).order_by(Trade.id)))


def _position(sf, bot_id):
    with sf() as s:
        return s.scalars(sa.select(Position).where(Position.bot_id == bot_id)).first()


def _enter_at_100(rig, sf, clock, strategy=STOP_5, cooldown_minutes=0):
    bot = add_bot(
        sf, clock, PAIR, strategy=strategy, confirmation_minutes=0, cooldown_minutes=cooldown_minutes
    )
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY]
    assert _position(sf, bot).base_size > 0
    return bot


def _set_status(sf, bot_id, status):
    with sf() as s, s.begin():
        s.get(Bot, bot_id).status = status


def test_a_bot_in_error_because_its_candles_fail_is_stopped_out_when_the_bid_falls(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=1000)
    bot = _enter_at_100(rig, sf, clock)
    rig.market.set(PAIR, "100", "hold")
    rig.market.broken[PAIR] = unavailable("candles")
    for _ in range(5):
        with sf() as s, s.begin():
            s.get(BotRuntime, bot).next_evaluation_at = None  # due now: fail fast
        rig.tick()
    with sf() as s:
        assert s.get(Bot, bot).status == BotStatus.ERROR
    rig.market.set(PAIR, "50")  # bid 49.99
    rig.tick()
    trades = _trades(sf, bot)
    assert [t.intent for t in trades] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    assert _position(sf, bot).base_size == 0


def test_a_running_bot_whose_candles_fail_still_takes_its_stop_loss(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=1000)
    bot = _enter_at_100(rig, sf, clock)
    rig.market.broken[PAIR] = unavailable("candles")
    rig.market.set(PAIR, "50")
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]


@pytest.mark.parametrize("status", [BotStatus.STOPPED, BotStatus.PAUSED, BotStatus.ERROR])
def test_a_bot_a_person_stopped_or_paused_is_stopped_out_when_the_bid_falls(session_factory, clock, status):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = _enter_at_100(rig, sf, clock)
    _set_status(sf, bot, status)
    rig.market.set(PAIR, "50", "buy")
    rig.tick()
    trades = _trades(sf, bot)
    assert [t.intent for t in trades] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    assert _position(sf, bot).base_size == 0
    with sf() as s:
        assert s.get(Bot, bot).status == status  # protection never changes the status


def test_the_high_water_mark_of_a_stopped_bot_moves_every_tick_and_its_trailing_stop_fires(
    session_factory, clock
):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    trailing = {
        "take_profit_ladder": [],
        "stop_loss_pct": None,
        "trailing_stop_pct": "5",
        "dca_step_pct": "0",
    }
    bot = _enter_at_100(rig, sf, clock, strategy=trailing)
    _set_status(sf, bot, BotStatus.STOPPED)
    for price in ("110", "120"):
        rig.market.set(PAIR, price, "hold")
        rig.tick()
    with sf() as s:
        assert s.get(BotRuntime, bot).high_water_price == D("119.99")
    rig.market.set(PAIR, "113")  # bid 112.99 < 119.99 * 0.95 = 113.99
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY, TradeIntent.TRAILING_STOP]


def test_a_stopped_bot_never_enters(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = _enter_at_100(rig, sf, clock)
    _set_status(sf, bot, BotStatus.STOPPED)
    rig.market.set(PAIR, "99", "buy")
    for _ in range(3):
        rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY]


def test_a_position_whose_protection_a_person_turned_off_is_not_stopped_out_until_turned_on(
    session_factory, clock
):
    from coinpilot.domain.types import TradingMode
    from coinpilot.engine.bots import control as bot_control

    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = _enter_at_100(rig, sf, clock)
    with sf() as s, s.begin():
        b = s.get(Bot, bot)
        bot_control.stop(s, b, now=clock.now(), actor="alice", mode=TradingMode.MOCK, close_position=False)
        bot_control.set_protection(
            s,
            b,
            enabled=False,
            now=clock.now(),
            actor="alice",
            mode=TradingMode.MOCK,
            reason="selling by hand",
        )
    rig.market.set(PAIR, "50")
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY]
    with sf() as s, s.begin():
        bot_control.set_protection(
            s, s.get(Bot, bot), enabled=True, now=clock.now(), actor="alice", mode=TradingMode.MOCK, reason=""
        )
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]


def test_a_bot_paused_through_the_pause_control_still_takes_its_stop_loss(session_factory, clock):
    from coinpilot.domain.types import TradingMode
    from coinpilot.engine.bots import control as bot_control

    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = _enter_at_100(rig, sf, clock)
    with sf() as s, s.begin():
        bot_control.pause(
            s, s.get(Bot, bot), now=clock.now(), actor="alice", mode=TradingMode.MOCK, reason="t"
        )
    rig.market.set(PAIR, "50", "buy")
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    assert _position(sf, bot).base_size == 0
    with sf() as s:
        assert s.get(Bot, bot).status == BotStatus.PAUSED
