"""Property tests of the pure decision kernel (domain/decision.py): random sequences of quotes,
evaluations, fills and statuses drive ``decide`` / ``next_high_water`` with the position
functions, the way the engine does, and the invariants must hold after every step:

- never more tranches than min(bot, limits), never more position cost than the limit allows;
- at most one order in flight per bot (nothing is decided while one is);
- a sell never exceeds the position, and the position is the sum of the fills applied;
- no entry unless the bot is RUNNING and its BUY is confirmed; protection (stop-loss) fires in
  every status when the bid is at or below the stop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.decision import BotView, Signal, decide, next_high_water
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Action, BotStatus, Side, TemperatureLevel, TradeIntent, quantize_down

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
INC = D("0.00000001")
LIMITS = SafetyLimits(max_position_usd_per_bot=D("60"), max_trade_usd=D("25"))
STRATEGY = StrategyConfig.from_dict(
    {"dca_step_pct": "1", "stop_loss_pct": "5", "trailing_stop_pct": "8", "take_profit_ladder": [["5", "40"]]}
)
CONFIG = BotConfig(
    pair="BTC-USD",
    signals=SignalConfig.default(),
    buy_threshold=0.5,
    sell_threshold=0.5,
    confirmation_minutes=0,
    trade_size_usd=D("20"),
    cooldown_minutes=0,
    max_tranches=2,
)

step = st.tuples(
    st.decimals(min_value=D("50"), max_value=D("150"), places=2),  # bid
    st.sampled_from([Action.BUY, Action.SELL, Action.HOLD]),
    st.booleans(),  # confirmed
    st.sampled_from(list(BotStatus)),
    st.booleans(),  # does the order in flight (if any) fill at this step?
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_the_kernel_keeps_its_invariants_over_any_sequence(steps: list) -> None:
    pos = PositionState()
    high_water: D | None = None
    rungs: set[int] = set()
    in_flight: tuple | None = None  # (side, size or quote, intent, rung)
    bought = sold = D(0)
    next_id = 1
    for i, (bid, action, confirmed, status, fills_now) in enumerate(steps):
        now = T0 + timedelta(minutes=i)
        ask = bid + D("0.02")
        high_water = next_high_water(pos, high_water, bid)
        if not pos.is_flat:
            assert high_water is not None and high_water >= bid
        view = BotView(
            1, "BTC-USD", status, CONFIG, pos, T0, high_water, frozenset(rungs), in_flight is not None
        )
        signal = Signal(action, confirmed, TemperatureLevel.HOT, 0.9)
        plan = decide(view, signal, bid, ask, INC, LIMITS, STRATEGY)
        if in_flight is not None:
            assert plan is None  # one order at a time per bot
        elif plan is not None:
            if plan.side is Side.BUY:
                assert status is BotStatus.RUNNING and confirmed and action is Action.BUY
                assert plan.intent is TradeIntent.ENTRY
                assert plan.quote_size is not None and plan.quote_size <= LIMITS.max_trade_usd
                assert len(pos.tranches) < min(CONFIG.max_tranches, LIMITS.max_tranches)
                assert pos.cost + plan.quote_size <= LIMITS.max_position_usd_per_bot
            else:
                assert plan.base_size is not None and 0 < plan.base_size <= pos.base_size
                if plan.intent is TradeIntent.SIGNAL_EXIT:
                    assert status is BotStatus.RUNNING and confirmed and action is Action.SELL
            in_flight = (plan.side, plan.quote_size or plan.base_size, plan.intent, plan.rung)
        elif not pos.is_flat:
            stop = pos.avg_entry_price * (1 - STRATEGY.stop_loss_pct / 100)
            assert bid > stop, "the stop-loss must fire in every status"
        if in_flight is not None and fills_now:
            side, amount, _intent, rung = in_flight
            if side is Side.BUY:
                base = quantize_down(amount / ask, INC)
                pos = apply_entry(pos, [FillAmount(ask, base, D("0.01"))], next_id, now)
                bought += base
                next_id += 1
            else:
                pos, _ = apply_exit(pos, [FillAmount(bid, amount, D("0.01"))])
                sold += amount
                if rung is not None:
                    rungs.add(rung)
            if pos.is_flat:
                rungs.clear()
                high_water = None
            in_flight = None
        assert pos.base_size == bought - sold  # the position is the sum of the fills
        assert len(pos.tranches) <= min(CONFIG.max_tranches, LIMITS.max_tranches)
        assert pos.is_flat or pos.cost <= LIMITS.max_position_usd_per_bot + D("0.02")
