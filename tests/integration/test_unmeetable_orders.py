"""An order that can never meet the product's minimums is not retried every 5 minutes (288 audit
rows a day): it is refused once, says why once, and is not sent again while it stays the same."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent
from coinpilot.engine.loop.bot_loop import OrderPlan, TradingStep
from coinpilot.store.models import SafetyAudit
from tests.integration._engine import add_bot, make_rig
from tests.integration._fakes import TEST_LIMITS, enable_trading

D = Decimal


def _audits(sf, bot_id: int) -> int:  # type: ignore[no-untyped-def]
    with sf() as s:
        return int(s.scalar(sa.select(sa.func.count()).where(SafetyAudit.bot_id == bot_id)) or 0)


def test_order_below_the_minimum_is_refused_once_and_not_retried(session_factory, clock) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(session_factory, clock, TEST_LIMITS)
    bot = add_bot(session_factory, clock, "BTC-USD")
    enable_trading(session_factory, clock)
    assert rig.trades.execute(bot, Side.BUY, quote_size="20").trade is not None
    clock.advance(1)
    rig.sync.sync_once()
    step = TradingStep(session_factory, rig.trades, clock)
    view = SimpleNamespace(bot_id=bot)
    tiny = OrderPlan(Side.SELL, TradeIntent.TAKE_PROFIT, "rung 0", base_size=D("0.00001"), rung=0)  # $0.50
    before = _audits(session_factory, bot)

    first = step.execute(view, tiny, None, time.perf_counter())  # type: ignore[arg-type]
    assert first.result is not None and first.result.trade is None
    codes = [r["code"] for r in first.result.decision["reasons"]]
    assert codes == ["BELOW_PRODUCT_MINIMUM"]
    assert _audits(session_factory, bot) == before + 1

    for _ in range(3):  # 15 minutes of engine ticks: refused without another audit row
        clock.advance(timedelta(minutes=5, seconds=1).total_seconds())
        again = step.execute(view, tiny, None, time.perf_counter())  # type: ignore[arg-type]
        assert again.result is None and again.error is not None
        assert "never" in again.error and "minimum" in again.error
    assert _audits(session_factory, bot) == before + 1

    other = OrderPlan(Side.SELL, TradeIntent.TAKE_PROFIT, "rung 1", base_size=D("0.0001"), rung=1)  # $5
    placed = step.execute(view, other, None, time.perf_counter())  # type: ignore[arg-type]
    assert placed.result is not None and placed.result.trade is not None  # a sellable size goes out
