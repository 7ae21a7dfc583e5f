"""The optional cooling exit through the whole bot loop: a position is sold once its bot stayed
below the level for the confirmation period — and not when the option is off."""

from __future__ import annotations

import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent
from coinpilot.store.models import Evaluation, Trade
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


def _run(sf, clock, strategy, cool_ticks: int, retention: int = 1000):
    rig = make_rig(sf, clock, TEST_LIMITS, retention=retention)
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


def test_a_cooling_period_longer_than_the_kept_history_still_exits(session_factory, clock):
    # Ten evaluations kept, one a minute: the history holds about ten minutes (up to 59 rows
    # between two prunes), the cooling period is 90. Pruning by count alone deletes the reading
    # at the period's start, the exit is never proven and the position is never sold.
    strategy = {**BASE, "cooling_exit_below": "warm", "cooling_exit_minutes": "90"}
    bot, counts = _run(session_factory, clock, strategy, 110, retention=10)
    assert _intents(session_factory, bot) == [
        (Side.BUY, TradeIntent.ENTRY),
        (Side.SELL, TradeIntent.SIGNAL_EXIT),
    ]
    assert counts.index(2) == 90  # exactly when ninety minutes of cool readings are proven
    with session_factory() as s:
        kept = s.scalar(sa.select(sa.func.count()).select_from(Evaluation).where(Evaluation.bot_id == bot))
    assert kept < 111  # the history is still pruned: only what the cooling exit needs is kept
