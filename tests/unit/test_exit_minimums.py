"""Product minimums and dust in the exit plan (issue 10): no exit the exchange can never accept,
no remainder left behind that can never be sold."""

from datetime import UTC, datetime
from decimal import Decimal

from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.strategy import StrategyConfig, exit_decision
from coinpilot.domain.types import TradeIntent

D = Decimal
T0 = datetime(2026, 3, 1, tzinfo=UTC)
INC = D("0.0001")  # SOL-like: 0.0001 increment, 0.001 minimum, $1 quote minimum
MIN = D("0.001")
LADDER = StrategyConfig.from_dict({"take_profit_ladder": [["5", "10"], ["10", "40"]]})


def held(base: str, price: str = "1000") -> PositionState:
    return apply_entry(PositionState(), [FillAmount(D(price), D(base))], 1, T0)


def plan(pos: PositionState, bid: str, cfg: StrategyConfig = LADDER, taken: frozenset[int] = frozenset()):
    return exit_decision(cfg, pos, D(bid), None, taken, False, INC, base_min_size=MIN, quote_min_size=D(1))


def test_rung_below_the_minimum_waits_and_merges_into_the_next_rung() -> None:
    pos = held("0.006")  # rung 0 = 10% = 0.0006 < 0.001 minimum
    assert plan(pos, "1060") is None  # no order the exchange would refuse every 5 minutes
    merged = plan(pos, "1110")  # rung 1 reached: 10% + 40% = 0.003
    assert merged is not None and merged.intent is TradeIntent.TAKE_PROFIT
    assert (merged.base_size, merged.rung) == (D("0.003"), 1)


def test_rung_below_the_minimum_does_not_block_the_next_rung() -> None:
    pos = held("0.006")
    decision = plan(pos, "2000")  # both rungs reached at once
    assert decision is not None and decision.rung == 1 and decision.base_size >= MIN


def test_rung_merged_into_a_taken_rung_is_not_sold_again() -> None:
    pos = held("0.006")
    assert plan(pos, "2000", taken=frozenset({1})) is None


def test_last_rung_below_the_minimum_takes_the_whole_remainder() -> None:
    cfg = StrategyConfig.from_dict({"take_profit_ladder": [["5", "10"]]})
    decision = plan(held("0.006"), "1060", cfg)
    assert decision is not None and decision.base_size == D("0.006")


def test_exit_sells_everything_when_the_remainder_would_be_below_the_minimum() -> None:
    pos = held("0.0135")  # rung 1 = 40% = 0.0054, leaving 0.0081: sold as planned
    assert plan(pos, "1110", taken=frozenset({0})).base_size == D("0.0054")  # type: ignore[union-attr]
    small = held("0.0019")  # 50% = 0.00095 < min; the last rung takes the remainder 0.0019
    assert plan(small, "1110").base_size == D("0.0019")  # type: ignore[union-attr]
    cfg = StrategyConfig.from_dict({"take_profit_ladder": [["5", "60"]]})
    almost = held("0.002")  # 60% = 0.0012 would leave 0.0008 < min: sell it all
    assert plan(almost, "1060", cfg).base_size == D("0.002")  # type: ignore[union-attr]


def test_rung_below_the_quote_minimum_merges_too() -> None:
    pos = held("0.05", "10")  # 10% = 0.005 at $10 = $0.05 < $1
    assert plan(pos, "10.6") is None


def test_nothing_sellable_below_the_minimum_plans_no_exit() -> None:
    cfg = StrategyConfig.from_dict({"stop_loss_pct": "5"})
    dust = held("0.0005")
    assert exit_decision(cfg, dust, D(500), None, frozenset(), False, INC, base_min_size=MIN) is None


def test_exit_leaving_less_than_an_increment_closes_the_cycle_as_dust() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D("0.0110331141230380"))], 1, T0)
    after, realised = apply_exit(pos, [FillAmount(D(110), D("0.0110"), value=D("1.21"))], dust_below=MIN)
    assert after.is_flat and after.tranches == () and after.cost == 0
    assert after.dust_base_size == D("0.0000331141230380")
    assert after.dust_value == D("0.0000331141230380") * 110
    # the dust's cost is written off: realised = cash received - the whole cost of the cycle
    assert realised == D("1.21") - pos.cost


def test_exit_leaving_at_least_the_minimum_keeps_the_cycle_open() -> None:
    pos = held("0.004")
    after, _ = apply_exit(pos, [FillAmount(D(100), D("0.003"))], dust_below=MIN)
    assert after.base_size == D("0.001") and after.dust_base_size == 0 and after.tranches
