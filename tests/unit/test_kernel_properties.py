"""Property tests of the decision kernel (domain/kernel.py) driven the way every driver drives
it: random sequences of quotes, evaluations, trading-state changes, fills and day boundaries for
two bots sharing one account; each intent goes through ``kernel.approve`` (the safety check)
before ``on_order_accepted``. After every event:

- never more tranches than min(bot, limits); never more position cost (with the bot's buys in
  flight) than the per-bot limit, never more exposure (with all buys in flight) than the total;
- at most one order in flight per bot (``step`` decides nothing while one is);
- no buy accepted outside ACTIVE;
- position = sum of the fills applied; the account's exposure = sum of the positions' cost;
- no buy accepted at a daily cap (exits are never refused for the count);
- the daily counters are today's: they reset at the UTC day boundary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.domain import kernel
from coinpilot.domain.bot import BotConfig
from coinpilot.domain.decision import Signal
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.position import FillAmount
from coinpilot.domain.safety_types import day_start
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.state import AccountState, BotState
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import Action, BotStatus, Side, TemperatureLevel, TradeStatus, TradingMode

D = Decimal
T0 = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)
LIMITS = SafetyLimits(
    max_trade_usd=D("25"),
    max_position_usd_per_bot=D("60"),
    max_total_exposure_usd=D("100"),
    max_daily_trades=8,
    max_daily_trades_per_bot=5,
    cooldown_minutes=0,
    min_reserved_balance_usd=D("0"),
    max_consecutive_losses=2,
)
PRODUCT = Product("BTC-USD", "BTC", "USD", D("0.00000001"), D("0.01"), D("0.00000001"), D("1"))
STRATEGY = StrategyConfig.from_dict(
    {"dca_step_pct": "1", "stop_loss_pct": "5", "trailing_stop_pct": "8", "take_profit_ladder": [["5", "40"]]}
)
CONFIG = BotConfig(
    pair="BTC-USD",
    signals=SignalConfig.default(),
    buy_threshold=0.5,
    sell_threshold=0.5,
    confirmation_minutes=0,
    trade_size_usd=D("25"),
    cooldown_minutes=0,
    max_tranches=2,
)

event = st.tuples(
    st.integers(min_value=0, max_value=1),  # which bot
    st.decimals(min_value=D("50"), max_value=D("150"), places=2),  # bid
    st.sampled_from([Action.BUY, Action.BUY, Action.SELL, Action.HOLD]),
    st.sampled_from([1, 1, 1, 5, 60, 60 * 5]),  # minutes until this event (hours cross days)
    st.sampled_from(["fill", "fill", "wait", "fail", "cancel"]),  # what the order in flight does
    st.sampled_from([None, None, None, None, TradingState.REDUCING, TradingState.ACTIVE]),
)


@settings(max_examples=120, deadline=None)
@given(st.lists(event, min_size=1, max_size=60))
def test_the_kernel_keeps_its_invariants_over_any_sequence(events: list) -> None:
    bots = {i: BotState(i, "BTC-USD", BotStatus.RUNNING, CONFIG, STRATEGY) for i in (0, 1)}
    account = AccountState(
        TradingMode.MOCK, TradingState.ACTIVE, balances={"USD": D("100000"), "BTC": D("1000")}
    )
    held = {0: D(0), 1: D(0)}  # sum of the fills applied, per bot
    counted: dict[datetime, dict[int, int]] = defaultdict(lambda: {0: 0, 1: 0})  # per day
    now = T0
    for which, bid, action, minutes, fate, switch in events:
        now += timedelta(minutes=minutes)
        if switch is not None:
            account = replace(account, trading_state=switch)
        b = bots[which]
        ask = bid + D("0.02")
        b, _ = kernel.on_evaluation(b, action, now, interval_seconds=60 * 60 * 6)
        b, account = kernel.on_quote(b, account, bid)
        if b.order is not None:
            order = b.order
            if fate == "fill":
                if order.side is Side.BUY:
                    assert order.quote_size is not None
                    fill = FillAmount(ask, (order.quote_size / ask).quantize(D("0.00000001")))
                else:
                    assert order.base_size is not None
                    fill = FillAmount(bid, order.base_size)
                b, account = kernel.on_fill(b, account, [fill], now, PRODUCT, LIMITS)
                held[which] += fill.base_size if order.side is Side.BUY else -fill.base_size
            elif fate in ("fail", "cancel"):
                status = TradeStatus.FAILED if fate == "fail" else TradeStatus.CANCELLED
                b = b if fate == "fail" else kernel.on_order_acknowledged(b)
                b, account = kernel.on_order_final(b, account, status, now)
                if fate == "fail":
                    counted[day_start(order.accepted_at or now)][which] -= 1
        signal = Signal(action, True, TemperatureLevel.HOT, 0.9)
        had_order = b.order is not None
        b, intent = kernel.step(
            b, account, BestBidAsk("BTC-USD", bid, ask, now), signal, now, PRODUCT, LIMITS
        )
        if had_order:
            assert intent is None  # one order at a time per bot
        if intent is not None:
            if kernel.approve(b, account, intent, PRODUCT, now, LIMITS).allowed:
                if intent.side is Side.BUY:
                    assert account.trading_state is TradingState.ACTIVE
                    # The daily caps hold for buys (exits are never refused for the count).
                    assert kernel.roll_day(b, now).protections.trades_today < LIMITS.max_daily_trades_per_bot
                    assert kernel.roll_day(account, now).trades_today < LIMITS.max_daily_trades
                else:
                    assert intent.base_size is not None and intent.base_size <= b.position.base_size
                b, account = kernel.on_order_accepted(b, account, intent, now)
                counted[day_start(now)][which] += 1
            else:
                b = kernel.on_order_refused(b, intent, now)
        bots[which] = b
        account = kernel.roll_day(account, now)
        for i, bb in bots.items():
            bb = kernel.roll_day(bb, now)
            pos = bb.position
            assert pos.base_size + pos.dust_base_size == held[i]  # position = sum of fills
            assert len(pos.tranches) <= min(LIMITS.max_tranches, CONFIG.max_tranches)
            own = kernel.order_value(bb.order) if bb.order is not None else D(0)
            assert pos.cost + own <= LIMITS.max_position_usd_per_bot
            assert bb.protections.trades_today == counted[day_start(now)][i]
        assert account.exposure == sum((bb.position.cost for bb in bots.values()), D(0))
        assert account.exposure + account.buys_in_flight <= LIMITS.max_total_exposure_usd
        assert account.trades_today == sum(counted[day_start(now)].values())
