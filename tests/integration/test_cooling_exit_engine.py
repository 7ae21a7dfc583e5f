"""The optional cooling exit through the whole bot loop: a position is sold once its bot stayed
below the level for the confirmation period — and not when the option is off."""

from __future__ import annotations

import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent
from coinpilot.store.models import Trade
from tests.integration._engine import add_bot, make_rig
from tests.integration._fakes import TEST_LIMITS, enable_trading

PAIR = "BTC-USD"
BASE = {"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None, "exit_on_sell_signal": False}


def _intents(sf, bot_id):
    with sf() as s:
        return [
            (t.side, t.intent)
            for t in s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id).order_by(Trade.id))
        ]


def _run(sf, clock, strategy, cool_ticks: int):
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=0, max_tranches=1)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()  # hot: enters
    rig.market.set(PAIR, "100", "hold")  # the buy signal fades: frozen for a buy
    counts = []
    for _ in range(cool_ticks):
        rig.tick()
        counts.append(len(_intents(sf, bot)))
    return bot, counts


def test_a_bot_cooled_for_the_whole_period_exits_its_position(session_factory, clock):
    strategy = {**BASE, "cooling_exit_below": "warm", "cooling_exit_minutes": "5"}
    bot, counts = _run(session_factory, clock, strategy, 8)
    assert _intents(session_factory, bot) == [
        (Side.BUY, TradeIntent.ENTRY),
        (Side.SELL, TradeIntent.SIGNAL_EXIT),
    ]
    # Cool from the second tick on; sold once five minutes of cool readings are proven.
    assert counts.index(2) == 5
    with session_factory() as s:
        sell = s.scalars(sa.select(Trade).where(Trade.side == Side.SELL)).one()
        assert "cooling exit" in sell.signal_snapshot["decision"]


def test_without_the_option_a_cool_bot_keeps_its_position(session_factory, clock):
    bot, _ = _run(session_factory, clock, BASE, 8)
    assert _intents(session_factory, bot) == [(Side.BUY, TradeIntent.ENTRY)]
