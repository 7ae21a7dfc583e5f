"""The dashboard overview, the CLI's ``safety status`` and the safety check agree on a bot's
trades left, cooldown remaining and unrealised P&L (issue 9: they used to count by other rules).

The engine runs for real (scripted market): it buys, the order fills, the cooldown runs; one
trade refused before the exchange acknowledged it is in today's history (it must not count).
Unrealised P&L is the position marked to the best bid everywhere: the overview's mark, the
kernel's ``on_quote`` over the state the safety check loads, and the daily loss breaker.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from coinpilot.domain import kernel
from coinpilot.domain.safety import SafetyRequest, day_start
from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.domain.usage import cooldown_remaining
from coinpilot.engine.risk.loss_breaker import DailyLossBreaker
from coinpilot.store.models import ControlState, Trade
from coinpilot.store.repos.snapshot import gather_context
from coinpilot.views.overview import build_overview
from coinpilot.views.safety_status import usage_status
from tests.integration._engine import add_bot, make_rig
from tests.integration._fakes import TEST_LIMITS, enable_trading

D = Decimal
PAIR = "BTC-USD"
MOCK = TradingMode.MOCK


def test_overview_safety_status_and_the_safety_check_agree_on_what_is_left(session_factory, clock):
    sf = session_factory
    limits = replace(TEST_LIMITS, cooldown_minutes=0)
    rig = make_rig(sf, clock, limits)
    bot = add_bot(sf, clock, PAIR, confirmation_minutes=0, cooldown_minutes=30)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()  # confirmed at once: one entry, filled and settled by the sync
    rig.market.set(PAIR, "98", "hold")
    rig.tick()  # the engine marks the position at the new quote
    now = clock.now()
    with sf() as s, s.begin():  # refused before the exchange acknowledged it: never counts
        s.add(
            Trade(
                bot_id=bot,
                mode=MOCK,
                side=Side.BUY,
                intent=TradeIntent.MANUAL,
                pair=PAIR,
                client_order_id=str(uuid.uuid4()),
                status=TradeStatus.FAILED,
                requested_quote_size=D("20"),
                status_history=[],
                created_at=now,
                updated_at=now,
            )
        )

    bid = rig.market.get_best_bid_ask([PAIR])[PAIR].bid
    with sf() as s:
        overview = build_overview(s, now, MOCK, limits, day_start(now), timedelta(minutes=10))
        row = next(r for r in overview["bots"] if r["id"] == bot)
        product = rig.exchange.get_product(PAIR)
        request = SafetyRequest(bot, PAIR, Side.BUY, TradeIntent.MANUAL, D("20"), None, bid)
        gathered = gather_context(
            s,
            now=now,
            mode=MOCK,
            state=s.get(ControlState, 1),
            bot_id=bot,
            product=product,
            balances=rig.exchange.get_balances(),
            limits=limits,
            request=request,
        )
    status = next(b for b in usage_status(sf, MOCK, now, limits)["bots"] if b["bot_id"] == bot)
    assert gathered is not None
    ctx = gathered.context

    # Trades left: one entry counted, the unacknowledged failure not.
    left = limits.max_daily_trades_per_bot - ctx.trades_today_bot
    assert ctx.trades_today_bot == 1
    assert row["usage"]["trades_left"] == left
    assert limits.max_daily_trades_per_bot - status["trades_today"] == left

    # Cooldown remaining: the bot's own 30 minutes from its fill.
    remaining = cooldown_remaining(now, ctx.last_fill_at, limits, ctx.bot_cooldown_minutes).total_seconds()
    assert 0 < remaining <= 30 * 60
    assert row["usage"]["cooldown_remaining_seconds"] == remaining
    assert float(status["cooldown_remaining_seconds"]) == round(remaining, 3)

    # Unrealised P&L, marked to the best bid: the overview, the kernel and the loss breaker.
    marked, account = kernel.on_quote(gathered.bot, gathered.account, bid)
    assert marked.unrealised < 0
    assert D(row["position"]["unrealized_pnl"]) == marked.unrealised
    breaker = DailyLossBreaker(sf, rig.market, rig.control, clock, MOCK, limits)
    breaker.check()
    assert breaker.last is not None and breaker.last.unrealised == marked.unrealised
    assert D(overview["safety"]["unrealized_pnl"]) == account.unrealised
