"""The protection pass's fast path (domain/exit_levels.py) never changes a decision: whenever
``ExitLevels.quiet`` says "no exit at this bid", the exact ``decide(view, None, ...)`` says None
too, on random positions, strategies, rungs taken, high-water marks and bids, including bids
exactly at a stop, a trailing stop or a take-profit target (where it must ask the exact rule).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.decision import BotView, decide, next_high_water
from coinpilot.domain.exit_levels import ExitLevels
from coinpilot.domain.levels import stop_loss_price, take_profit_price, trailing_stop_price
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.position import FillAmount, PositionState, apply_entry
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import BotStatus

D = Decimal
T0 = datetime(2024, 3, 1, tzinfo=UTC)
LIMITS = SafetyLimits()
CONFIG = BotConfig(
    pair="BTC-USD",
    signals=SignalConfig.default(),
    buy_threshold=0.5,
    sell_threshold=0.5,
    confirmation_minutes=0,
    trade_size_usd=D("20"),
    cooldown_minutes=0,
    max_tranches=3,
)

price = st.decimals(min_value=D("0.0001"), max_value=D("90000"), places=4)
pct = st.one_of(st.none(), st.decimals(min_value=D("0.1"), max_value=D("99"), places=2))
fill = st.tuples(
    price,
    st.decimals(min_value=D("0.00000001"), max_value=D("50"), places=8),  # base size
    st.decimals(min_value=D("0"), max_value=D("2"), places=4),  # fee
)
ladder = st.lists(
    st.tuples(
        st.decimals(min_value=D("0.1"), max_value=D("300"), places=2),
        st.decimals(min_value=D("1"), max_value=D("100"), places=0),
    ),
    max_size=3,
).map(lambda rungs: sorted(rungs))


def _position(fills: list[tuple[Decimal, Decimal, Decimal]]) -> PositionState:
    pos = PositionState()
    for i, (p, base, fee) in enumerate(fills):
        pos = apply_entry(pos, [FillAmount(p, base, fee)], i + 1, T0)
    return pos


def _levels_of(pos: PositionState, strategy: StrategyConfig, high_water: Decimal) -> list[Decimal]:
    """The exact prices where a rule changes its answer: the bids worth trying."""
    avg = pos.avg_entry_price
    assert avg is not None
    out = [high_water]
    if strategy.stop_loss_pct is not None:
        out.append(stop_loss_price(avg, strategy.stop_loss_pct))
    if strategy.trailing_stop_pct is not None:
        out.append(trailing_stop_price(high_water, strategy.trailing_stop_pct))
    out += [take_profit_price(avg, gain) for gain, _ in strategy.take_profit_ladder]
    return out


@settings(max_examples=400, deadline=None)
@given(
    fills=st.lists(fill, min_size=1, max_size=3),
    stop=pct,
    trailing=pct,
    rungs=ladder,
    taken=st.sets(st.integers(min_value=0, max_value=2), max_size=2),
    protection_off=st.booleans(),
    prior_high=st.one_of(st.none(), price),
    bid=price,
    at_level=st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
    nudge=st.sampled_from([D(0), D("1e-12"), D("-1e-12"), D("0.0001"), D("-0.0001")]),
    status=st.sampled_from(list(BotStatus)),
)
def test_quiet_implies_the_exact_decision_places_nothing(
    fills: list[tuple[Decimal, Decimal, Decimal]],
    stop: Decimal | None,
    trailing: Decimal | None,
    rungs: list[tuple[Decimal, Decimal]],
    taken: set[int],
    protection_off: bool,
    prior_high: Decimal | None,
    bid: Decimal,
    at_level: int | None,
    nudge: Decimal,
    status: BotStatus,
) -> None:
    strategy = StrategyConfig.from_dict(
        {"stop_loss_pct": stop, "trailing_stop_pct": trailing, "take_profit_ladder": rungs}
    )
    pos = _position(fills)
    high_water = next_high_water(pos, prior_high, bid)
    assert high_water is not None
    if at_level is not None:  # a bid exactly at (or a hair from) one of the levels
        levels = _levels_of(pos, strategy, high_water)
        bid = max(levels[at_level % len(levels)] + nudge, D("0.00000001"))
        high_water = next_high_water(pos, prior_high, bid)
        assert high_water is not None
    view = BotView(1, "BTC-USD", status, CONFIG, pos, T0, high_water, frozenset(taken), False, protection_off)
    levels = ExitLevels.of(pos, strategy, frozenset(taken), protection_off)
    exact = decide(view, None, bid, bid + D("0.01"), D("0.00000001"), LIMITS, strategy)
    if levels.quiet(float(bid), float(high_water)):
        assert exact is None, (levels, exact)


def _view(pos: PositionState, high_water: Decimal) -> BotView:
    return BotView(1, "BTC-USD", BotStatus.STOPPED, CONFIG, pos, T0, high_water, frozenset(), False)


def test_quiet_far_from_every_level_and_not_quiet_at_one() -> None:
    """The fast path is not vacuous: away from the levels it skips the exact rule; at a level
    (where the exact rule may sell) it never does."""
    strategy = StrategyConfig.from_dict(
        {"stop_loss_pct": "5", "trailing_stop_pct": "10", "take_profit_ladder": [["20", "50"], ["40", "50"]]}
    )
    pos = _position([(D("100"), D("1"), D("0"))])
    levels = ExitLevels.of(pos, strategy, frozenset())
    assert levels.quiet(101.0, 105.0)
    # Exactly at the stop (95), the trailing stop (0.9 x 110 = 99) and the first rung (120):
    for bid, high in ((D("95"), D("100")), (D("99"), D("110")), (D("120"), D("120"))):
        assert not levels.quiet(float(bid), float(high))
        assert decide(_view(pos, high), None, bid, bid, D("0.00000001"), LIMITS, strategy) is not None
    # With the first rung taken, the next target is +40%: 120 is quiet again (trailing aside).
    assert ExitLevels.of(pos, strategy, frozenset({0})).quiet(120.0, 120.0)
    # Protection turned off by a person: nothing automatic fires at any bid.
    assert ExitLevels.of(pos, strategy, frozenset(), protection_off=True).quiet(1.0, 200.0)
    assert not levels.quiet(float("nan"), 100.0)
