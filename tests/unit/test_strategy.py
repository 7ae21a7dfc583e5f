import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.strategy import (
    ExitDecision,
    StrategyConfig,
    entry_size,
    exit_decision,
    plan_entry,
)
from coinpilot.domain.types import TemperatureLevel, TradeIntent

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOT, WARM, COOL = TemperatureLevel.HOT, TemperatureLevel.WARM, TemperatureLevel.COOL
SAT = D("0.00000001")
CFG = StrategyConfig.default()


def size(cfg: StrategyConfig = CFG, **kw: Any) -> Decimal | None:
    args: dict[str, Any] = {
        "base_trade_usd": D(25),
        "temperature": HOT,
        "tranche_index": 0,
        "position_cost": D(0),
        "max_position_usd": D(100),
        "max_tranches": 3,
        "last_entry_price": None,
        "price": D(50000),
    }
    args.update(kw)
    return entry_size(cfg, **args)


def held(price: Decimal, base: Decimal = D(1)) -> PositionState:
    return apply_entry(PositionState(), [FillAmount(price, base)], 1, T0)


def exit_at(
    pos: PositionState,
    bid: Decimal,
    cfg: StrategyConfig = CFG,
    high_water: Decimal | None = None,
    taken: frozenset[int] = frozenset(),
    sell: bool = False,
) -> ExitDecision | None:
    return exit_decision(cfg, pos, bid, high_water, taken, sell, SAT)


# --- entries ----------------------------------------------------------------------------------


def test_fixed_sizing_buys_the_bot_trade_size() -> None:
    assert size() == D(25)


def test_graduated_sizing_follows_the_seed_test_main_conviction_sizes() -> None:
    cfg = replace(CFG, sizing="graduated")
    assert size(cfg, temperature=WARM) == D(15)
    assert size(cfg, temperature=HOT, tranche_index=1, position_cost=D(15),
                last_entry_price=D(50000), price=D(49000)) == D(35)  # fmt: skip
    assert size(cfg, temperature=HOT, tranche_index=2, position_cost=D(50),
                last_entry_price=D(49000), price=D(48020)) == D(50)  # fmt: skip


def test_graduated_sizing_without_a_size_for_the_level_does_not_enter() -> None:
    cfg = replace(CFG, sizing="graduated")
    plan = plan_entry(cfg, D(25), COOL, 0, D(0), D(100), 3, None, D(50000))
    assert plan.quote_size is None and "cool" in plan.reason


def test_pyramid_sizing_decreases_by_the_factor() -> None:
    cfg = replace(CFG, sizing="pyramid", pyramid_factor=D("0.5"), dca_step_pct=D(0))
    sizes = [size(cfg, base_trade_usd=D(40), tranche_index=i, max_position_usd=D(1000))
             for i in range(3)]  # fmt: skip
    assert sizes == [D(40), D(20), D(10)]


def test_dca_entry_allowed_exactly_at_the_step_and_refused_just_above() -> None:
    assert size(tranche_index=1, position_cost=D(25), last_entry_price=D(50000),
                price=D(49000)) == D(25)  # fmt: skip
    plan = plan_entry(CFG, D(25), HOT, 1, D(25), D(100), 3, D(50000), D("49000.01"))
    assert plan.quote_size is None and "2% below" in plan.reason


def test_max_tranches_allows_the_last_and_refuses_one_more() -> None:
    assert size(tranche_index=2, max_tranches=3, position_cost=D(50)) == D(25)
    assert size(tranche_index=3, max_tranches=3, position_cost=D(75)) is None


def test_entry_is_cut_to_the_room_left_under_max_position() -> None:
    assert size(position_cost=D(75)) == D(25)  # exactly reaches the maximum
    assert size(position_cost=D("80.005")) == D("19.99")  # rounded down to cents
    assert size(position_cost=D(100)) is None
    assert size(position_cost=D(120)) is None


# --- exits ------------------------------------------------------------------------------------


def test_stop_loss_fires_at_the_stop_and_not_a_cent_above() -> None:
    pos = held(D(100))
    d = exit_at(pos, D(95))
    assert d is not None and d.intent is TradeIntent.STOP_LOSS and d.base_size == D(1)
    assert exit_at(pos, D("95.01")) is None


def test_stop_loss_is_measured_from_average_entry_including_fees() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(1), D(1))], 1, T0)  # avg 101
    assert exit_at(pos, D("95.96")) is None
    assert exit_at(pos, D("95.95")) is not None


def test_no_stop_loss_when_disabled() -> None:
    assert exit_at(held(D(100)), D(50), replace(CFG, stop_loss_pct=None)) is None


def test_trailing_stop_fires_at_the_percent_below_the_high_water() -> None:
    cfg = replace(CFG, trailing_stop_pct=D(10))
    pos = held(D(100))
    d = exit_at(pos, D(108), cfg, high_water=D(120), taken=frozenset({0}))
    assert d is not None and d.intent is TradeIntent.TRAILING_STOP and d.base_size == D(1)
    assert exit_at(pos, D("108.01"), cfg, high_water=D(120), taken=frozenset({0})) is None


def test_trailing_stop_off_by_default() -> None:
    assert exit_at(held(D(100)), D(96), high_water=D(200)) is None


def test_confirmed_sell_signal_sells_everything() -> None:
    d = exit_at(held(D(100)), D(101), sell=True)
    assert d == ExitDecision(TradeIntent.SIGNAL_EXIT, D(1), "confirmed SELL signal")
    assert exit_at(held(D(100)), D(101), replace(CFG, exit_on_sell_signal=False), sell=True) is None


def test_stop_loss_takes_priority_over_sell_signal_and_trailing() -> None:
    cfg = replace(CFG, trailing_stop_pct=D(1))
    d = exit_at(held(D(100)), D(90), cfg, high_water=D(130), sell=True)
    assert d is not None and d.intent is TradeIntent.STOP_LOSS


def test_take_profit_rung_fires_at_its_gain_and_not_a_cent_below() -> None:
    pos = held(D(100))
    assert exit_at(pos, D("109.99")) is None
    d = exit_at(pos, D(110))
    assert d is not None and d.intent is TradeIntent.TAKE_PROFIT
    assert d.rung == 0 and d.base_size == D("0.3")


def test_each_rung_fires_once_and_lowest_untaken_first() -> None:
    pos = held(D(100))
    first = exit_at(pos, D(125))
    assert first is not None and first.rung == 0
    second = exit_at(pos, D(125), taken=frozenset({0}))
    assert second is not None and second.rung == 1 and second.base_size == D("0.5")
    assert exit_at(pos, D(125), taken=frozenset({0, 1})) is None


def test_rung_sizes_are_shares_of_the_cycle_and_rounded_to_increment() -> None:
    pos = held(D(100), D("0.00000010"))
    d = exit_decision(CFG, pos, D(111), None, frozenset(), False, SAT)
    assert d is not None and d.base_size == D("0.00000003")


def test_flat_position_has_no_exit() -> None:
    assert exit_at(PositionState(), D(1), sell=True) is None


# --- config -----------------------------------------------------------------------------------


def test_default_config_is_valid_and_round_trips_through_json() -> None:
    assert CFG.validate() == []
    again = StrategyConfig.from_dict(json.loads(json.dumps(CFG.to_dict())))
    assert again == CFG
    custom = replace(CFG, sizing="pyramid", trailing_stop_pct=D("7.5"), stop_loss_pct=None)
    assert StrategyConfig.from_dict(custom.to_dict()) == custom


def test_from_dict_accepts_partial_input_and_ladder_objects() -> None:
    cfg = StrategyConfig.from_dict(
        {"sizing": "graduated", "take_profit_ladder": [{"gain_pct": 5, "sell_pct": "100"}]}
    )
    assert cfg.sizing == "graduated"
    assert cfg.take_profit_ladder == ((D(5), D(100)),)
    assert cfg.dca_step_pct == D(2)


@pytest.mark.parametrize(
    "data",
    [{"nope": 1}, {"dca_step_pct": "abc"}, {"stop_loss_pct": "NaN"}, {"exit_on_sell_signal": 1}],
)
def test_from_dict_rejects_bad_input(data: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        StrategyConfig.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sizing": "martingale"}, "sizing"),
        ({"pyramid_factor": D("1.01")}, "pyramid_factor"),
        ({"pyramid_factor": D(0)}, "pyramid_factor"),
        ({"dca_step_pct": D(-1)}, "dca_step_pct"),
        ({"stop_loss_pct": D(100)}, "stop_loss_pct"),
        ({"trailing_stop_pct": D(0)}, "trailing_stop_pct"),
        ({"take_profit_ladder": ((D(20), D(30)), (D(10), D(50)))}, "take_profit_ladder[1]"),
        ({"take_profit_ladder": ((D(10), D(60)), (D(20), D("40.01")))}, "take_profit_ladder"),
        ({"graduated_sizes": {"scorching": D(5)}}, "graduated_sizes.scorching"),
        ({"graduated_sizes": {"hot": D(0)}}, "graduated_sizes.hot"),
    ],
)
def test_validate_names_the_bad_field(changes: dict[str, Any], field: str) -> None:
    assert field in [f for f, _ in replace(CFG, **changes).validate()]


def test_ladder_selling_exactly_100_percent_is_valid() -> None:
    assert replace(CFG, take_profit_ladder=((D(10), D(60)), (D(20), D(40)))).validate() == []


# --- a scripted price path --------------------------------------------------------------------


def run_path(cfg: StrategyConfig, prices: list[str], sell_at: int | None = None) -> list[str]:
    """Drive entries and exits over a price path like the engine would; return the events."""
    pos, taken, high = PositionState(), frozenset[int](), None
    events: list[str] = []
    for i, p in enumerate(prices):
        price = D(p)
        high = price if high is None else max(high, price)
        d = exit_at(pos, price, cfg, high_water=high, taken=taken, sell=i == sell_at)
        if d is not None:
            pos, _ = apply_exit(pos, [FillAmount(price, d.base_size)])
            events.append(f"{d.intent.value}{'' if d.rung is None else d.rung}@{p}")
            taken |= set() if d.rung is None else {d.rung}
            if pos.base_size == 0:
                taken, high = frozenset(), None
            continue
        quote = size(cfg, tranche_index=len(pos.tranches), position_cost=pos.cost,
                     last_entry_price=pos.last_entry_price, price=price)  # fmt: skip
        if quote is not None:
            pos = apply_entry(pos, [FillAmount(price, (quote / price).quantize(SAT))], i, T0)
            events.append(f"buy{quote.normalize()}@{p}")
    return events


def test_price_path_builds_three_tranches_ladders_out_and_trails_the_runner() -> None:
    # three $25 tranches (2% DCA steps) average ~48,993: +10% ~53,893, +20% ~58,792
    events = run_path(
        replace(CFG, trailing_stop_pct=D(8)),
        ["50000", "49500", "49000", "48500", "48020", "47000", "47500", "52000", "53900",
         "56000", "58800", "60000", "55300", "55200", "56000"],
    )  # fmt: skip
    assert events == [
        "buy25@50000",
        "buy25@49000",
        "buy25@48020",
        "take_profit0@53900",
        "take_profit1@58800",
        "trailing_stop@55200",  # 8% below the 60,000 high
        "buy25@56000",  # flat again: a new cycle starts
    ]


def test_price_path_hits_the_stop_loss_and_starts_a_new_cycle() -> None:
    # $25 at 50,000 / 48,000 / 46,600 average ~48,159.84: the 5% stop is ~45,751.85
    events = run_path(CFG, ["50000", "48000", "47500", "46600", "45752", "45751", "45000"])
    assert events == [
        "buy25@50000",
        "buy25@48000",  # 4% below: DCA step reached
        "buy25@46600",  # 47,500 was not 2% below 48,000; 46,600 is
        "stop_loss@45751",  # 45,752 is just above the stop
        "buy25@45000",
    ]


def test_price_path_exits_everything_on_a_confirmed_sell() -> None:
    events = run_path(CFG, ["50000", "50500", "51000"], sell_at=2)
    assert events == ["buy25@50000", "signal_exit@51000"]


def test_sizing_temperature_grades_confirmed_buys_weak_or_strong() -> None:
    from coinpilot.domain.strategy import sizing_temperature

    # threshold 0.4: strong from min(0.6, 0.7) = 0.6
    assert sizing_temperature(0.4, 0.4) is TemperatureLevel.WARM
    assert sizing_temperature(0.599, 0.4) is TemperatureLevel.WARM
    assert sizing_temperature(0.6, 0.4) is TemperatureLevel.HOT
    # threshold 0.8: 1.5x would be unreachable, so strong from midway to +1 = 0.9
    assert sizing_temperature(0.85, 0.8) is TemperatureLevel.WARM
    assert sizing_temperature(0.9, 0.8) is TemperatureLevel.HOT


def test_graduated_sizing_gives_a_weak_confirmed_buy_the_test_tranche() -> None:
    from coinpilot.domain.strategy import sizing_temperature

    cfg = StrategyConfig.from_dict({"sizing": "graduated"})
    weak = plan_entry(cfg, D(25), sizing_temperature(0.45, 0.4), 0, D(0), D(100), 3, None, D(100))
    strong = plan_entry(cfg, D(25), sizing_temperature(0.9, 0.4), 0, D(0), D(100), 3, None, D(100))
    assert weak.quote_size == D(15)
    assert strong.quote_size == D(35)
