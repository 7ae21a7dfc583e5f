"""The pure decision step of the bot loop: which single order (if any) a bot places now."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.decision import BotView, Signal, decide, effective_strategy, next_high_water
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.position import PositionState, TrancheState
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import Action, BotStatus, Side, TemperatureLevel, TradeIntent

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
INC = D("0.00000001")
LIMITS = SafetyLimits()


def _cfg(**kw: object) -> BotConfig:
    values: dict = {
        "pair": "BTC-USD",
        "signals": SignalConfig.default(),
        "buy_threshold": 0.5,
        "sell_threshold": 0.5,
        "confirmation_minutes": 5,
        "trade_size_usd": D("20"),
        "cooldown_minutes": 0,
        "max_tranches": 3,
    }
    values.update(kw)
    return BotConfig(**values)


def _pos(*entries: tuple[str, str]) -> PositionState:
    tranches = tuple(
        TrancheState(i, D(price), D(base), D(price) * D(base), D(0), T0)
        for i, (price, base) in enumerate(entries)
    )
    base = sum((t.base_size for t in tranches), D(0))
    cost = sum((t.cost for t in tranches), D(0))
    return PositionState(base_size=base, cost=cost, tranches=tranches)


def _view(pos: PositionState = PositionState(), **kw: object) -> BotView:
    values: dict = {
        "bot_id": 1,
        "pair": "BTC-USD",
        "status": BotStatus.RUNNING,
        "config": _cfg(),
        "position": pos,
        "position_opened_at": T0 if not pos.is_flat else None,
        "high_water": None,
        "rungs_taken": frozenset(),
        "has_open_trade": False,
    }
    values.update(kw)
    return BotView(**values)


def _signal(action: Action, confirmed: bool = True, level: TemperatureLevel = TemperatureLevel.HOT) -> Signal:
    return Signal(action=action, confirmed=confirmed, temperature=level, score=0.6)


def test_confirmed_buy_when_flat_plans_the_first_tranche() -> None:
    plan = decide(_view(), _signal(Action.BUY), D("99"), D("100"), INC, LIMITS, StrategyConfig())
    assert plan is not None and plan.side is Side.BUY and plan.intent is TradeIntent.ENTRY
    assert plan.quote_size == D("20") and plan.confirmation_driven


def test_unconfirmed_buy_plans_nothing() -> None:
    assert (
        decide(_view(), _signal(Action.BUY, False), D("99"), D("100"), INC, LIMITS, StrategyConfig()) is None
    )


def test_a_paused_bot_never_enters() -> None:
    view = _view(status=BotStatus.PAUSED)
    assert decide(view, _signal(Action.BUY), D("99"), D("100"), INC, LIMITS, StrategyConfig()) is None


def test_stop_loss_comes_before_a_confirmed_buy() -> None:
    pos = _pos(("100", "0.2"))
    plan = decide(_view(pos), _signal(Action.BUY), D("94"), D("94.01"), INC, LIMITS, StrategyConfig())
    assert plan is not None and plan.intent is TradeIntent.STOP_LOSS and plan.base_size == D("0.2")
    assert not plan.confirmation_driven


def test_an_open_trade_blocks_every_order_even_a_stop() -> None:
    pos = _pos(("100", "0.2"))
    view = _view(pos, has_open_trade=True)
    assert decide(view, None, D("50"), D("50.01"), INC, LIMITS, StrategyConfig()) is None


def test_a_paused_bot_ignores_sell_signals_but_keeps_its_stops() -> None:
    pos = _pos(("100", "0.2"))
    view = _view(pos, status=BotStatus.PAUSED)
    assert decide(view, _signal(Action.SELL), D("99"), D("99.01"), INC, LIMITS, StrategyConfig()) is None
    plan = decide(view, None, D("90"), D("90.01"), INC, LIMITS, StrategyConfig())
    assert plan is not None and plan.intent is TradeIntent.STOP_LOSS


def test_entries_stop_at_the_smaller_of_the_bot_and_global_tranche_caps() -> None:
    pos = _pos(("100", "0.1"), ("97", "0.1"))
    view = _view(pos, config=_cfg(max_tranches=5))
    no_stop = StrategyConfig(stop_loss_pct=None)
    two = SafetyLimits(max_tranches=2)
    assert decide(view, _signal(Action.BUY), D("80"), D("80.01"), INC, two, no_stop) is None
    three = SafetyLimits(max_tranches=3)
    plan = decide(view, _signal(Action.BUY), D("80"), D("80.01"), INC, three, no_stop)
    assert plan is not None and plan.intent is TradeIntent.ENTRY


def test_bot_level_stop_and_take_profit_apply_when_the_strategy_sets_none() -> None:
    cfg = _cfg(stop_loss_pct=D("3"), take_profit_pct=D("8"))
    s = effective_strategy({}, cfg)
    assert s.stop_loss_pct == D("3") and s.take_profit_ladder == ((D("8"), D("100")),)
    own = effective_strategy({"stop_loss_pct": "7"}, _cfg(stop_loss_pct=D("3"), strategy=StrategyConfig()))
    assert own.stop_loss_pct == D("5")  # the parsed strategy (default 5) wins when it names a stop


def test_high_water_tracks_the_highest_bid_and_clears_when_flat() -> None:
    pos = _pos(("100", "0.1"))
    assert next_high_water(pos, None, D("101")) == D("101")
    assert next_high_water(pos, D("105"), D("101")) == D("105")
    assert next_high_water(pos, D("105"), None) == D("105")
    assert next_high_water(PositionState(), D("105"), D("101")) is None
