"""Draining for shutdown: once SIGTERM arrives the engine opens nothing new, but a stop-loss that
falls due while it drains still goes out (protections run until the last moment)."""

from __future__ import annotations

import sqlalchemy as sa

from coinpilot.domain.types import TradeIntent
from coinpilot.engine.loop.evaluator import EvaluationService
from coinpilot.engine.loop.scheduler import EvaluationScheduler
from coinpilot.runtime.shutdown import DrainingTradingStep
from coinpilot.store.models import Trade
from tests.integration._engine import INTERVAL, add_bot, make_rig
from tests.integration._fakes import TEST_LIMITS, enable_trading


def intents(sf, bot_id: int) -> list[TradeIntent]:
    with sf() as s:
        return list(s.scalars(sa.select(Trade.intent).where(Trade.bot_id == bot_id).order_by(Trade.id)))


def test_draining_blocks_entries_but_not_the_stop_loss(session_factory, clock) -> None:
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    step = DrainingTradingStep(sf, rig.trades, clock, on_exchange_error=rig.breaker.record_failure)
    rig.scheduler = EvaluationScheduler(
        EvaluationService(sf, rig.market, clock),
        INTERVAL,
        market=rig.market,
        trading=step,
        breaker=rig.breaker,
    )
    strategy = {"take_profit_ladder": [], "stop_loss_pct": "5", "dca_step_pct": "0"}
    holder = add_bot(sf, clock, "BTC-USD", strategy=strategy, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set("BTC-USD", "100", "buy")
    rig.tick()
    assert intents(sf, holder) == [TradeIntent.ENTRY]

    newcomer = add_bot(sf, clock, "ETH-USD", strategy=strategy, confirmation_minutes=0)
    rig.market.set("ETH-USD", "100", "buy")
    step.drain()
    rig.market.set("BTC-USD", "90", "buy")  # below the 5 % stop while the buy signal holds
    rig.tick()
    rig.tick()
    assert intents(sf, holder) == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    assert intents(sf, newcomer) == []
    assert any(o.bot_id == newcomer and o.error == "shutting down: no new entries" for o in step.outcomes)
