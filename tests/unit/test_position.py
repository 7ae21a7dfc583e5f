from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest

from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit
from coinpilot.domain.types import PositionStatus

D = Decimal
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
CENT = D("0.01")
SAT = D("0.00000001")


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT)


def quote_buy(quote: Decimal, price: Decimal, fee_rate: Decimal) -> FillAmount:
    """A Coinbase quote-sized market buy: filled_value + fee == quote, base rounded down."""
    filled_value = quote / (1 + fee_rate)
    base = (filled_value / price).quantize(SAT, rounding=ROUND_DOWN)
    return FillAmount(price=price, base_size=base, fee=quote - base * price)


def test_seed_dca_example_without_fees_averages_the_two_entries() -> None:
    pos = apply_entry(PositionState(), [quote_buy(D(25), D(50000), D(0))], 1, T0)
    pos = apply_entry(pos, [quote_buy(D(25), D(49000), D(0))], 2, T0 + timedelta(hours=1))
    # 0.0005 BTC at 50k + 0.0005102 BTC at 49k: equal dollars weight the cheaper price more.
    assert pos.base_size == D("0.0010102")
    assert cents(pos.cost) == D("50.00")
    assert pos.avg_entry_price is not None
    assert cents(pos.avg_entry_price) == D("49495.15")
    assert [t.entry_price for t in pos.tranches] == [D(50000), D(49000)]
    assert pos.status(3) is PositionStatus.BUILDING


def test_seed_dca_example_with_coinbase_fees_counts_fees_in_cost() -> None:
    rate = D("0.006")
    pos = apply_entry(PositionState(), [quote_buy(D(25), D(50000), rate)], 1, T0)
    pos = apply_entry(pos, [quote_buy(D(25), D(49000), rate)], 2, T0)
    assert pos.cost == D(50)  # quote sizes include the fee
    assert cents(pos.total_fees) == D("0.30")
    assert pos.base_size == D("0.00049701") + D("0.00050716")
    assert pos.avg_entry_price is not None
    assert cents(pos.avg_entry_price) == D("49792.37")  # 50 / 0.00100417
    # at a bid of 49,000 the position is worth 49.20 and is 0.80 under water
    assert cents(pos.unrealized_pnl(D(49000))) == D("-0.80")
    assert cents(pos.market_value(D(49000))) == D("49.20")


def test_tranche_entry_price_is_fill_weighted_before_fees() -> None:
    fills = [FillAmount(D(100), D(1), D("0.5")), FillAmount(D(110), D(3), D("0.5"))]
    pos = apply_entry(PositionState(), fills, 7, T0)
    t = pos.tranches[0]
    assert t.entry_price == D("107.5")
    assert t.base_size == D(4)
    assert t.fee == D(1)
    assert t.cost == D(431)
    assert t.trade_id == 7 and t.opened_at == T0


def test_partial_exit_realises_against_average_entry_and_keeps_average() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(2), D(2))], 1, T0)  # avg 101
    pos, realised = apply_exit(pos, [FillAmount(D(120), D(1), D(1))])
    assert realised == D(120) - D(1) - D(101)
    assert pos.base_size == D(1)
    assert pos.cost == D(101)
    assert pos.avg_entry_price == D(101)
    assert pos.realized_pnl == D(18)
    assert pos.total_fees == D(3)
    assert pos.status(3) is PositionStatus.REDUCING


def test_full_close_leaves_zero_size_zero_cost_and_no_tranches() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(3), D(1), D(0))], 1, T0)
    pos = apply_entry(pos, [FillAmount(D(7), D(2), D(0))], 2, T0)  # avg 17/3: not exact
    pos, r1 = apply_exit(pos, [FillAmount(D(5), D(1), D(0))])
    pos, r2 = apply_exit(pos, [FillAmount(D(5), D(2), D(0))])
    assert pos.base_size == 0 and pos.cost == 0
    assert pos.tranches == ()
    assert r1 + r2 == D(15) - D(17)
    assert pos.realized_pnl == D(-2)
    assert pos.status(3) is PositionStatus.FLAT
    assert pos.avg_entry_price is None


def test_selling_more_than_held_raises_and_changes_nothing() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(1))], 1, T0)
    with pytest.raises(ValueError, match="holds only"):
        apply_exit(pos, [FillAmount(D(100), D("0.6")), FillAmount(D(100), D("0.5"))])
    assert pos.base_size == D(1)


def test_selling_from_flat_raises() -> None:
    with pytest.raises(ValueError):
        apply_exit(PositionState(), [FillAmount(D(100), D("0.1"))])


def test_entry_after_full_close_starts_a_new_cycle_keeping_realised_pnl() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(1))], 1, T0)
    pos, _ = apply_exit(pos, [FillAmount(D(110), D(1))])
    pos = apply_entry(pos, [FillAmount(D(90), D(1))], 2, T0 + timedelta(days=1))
    assert [t.trade_id for t in pos.tranches] == [2]
    assert pos.realized_pnl == D(10)
    assert pos.last_entry_price == D(90)
    assert pos.opened_at == T0 + timedelta(days=1)


def test_status_open_when_tranches_reach_max() -> None:
    pos = PositionState()
    for i in range(3):
        pos = apply_entry(pos, [FillAmount(D(100), D(1))], i, T0)
        assert pos.status(3) is (PositionStatus.OPEN if i == 2 else PositionStatus.BUILDING)


def test_entry_after_partial_exit_ends_reducing() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(2))], 1, T0)
    pos, _ = apply_exit(pos, [FillAmount(D(100), D(1))])
    assert pos.status(3) is PositionStatus.REDUCING
    pos = apply_entry(pos, [FillAmount(D(100), D(1))], 2, T0)
    assert pos.status(3) is PositionStatus.BUILDING
    assert len(pos.tranches) == 2


def test_flat_position_has_no_prices_and_zero_pnl() -> None:
    pos = PositionState()
    assert pos.status(3) is PositionStatus.FLAT
    assert pos.avg_entry_price is None
    assert pos.last_entry_price is None
    assert pos.unrealized_pnl(D(100)) == 0


def test_applying_the_same_entry_trade_twice_raises() -> None:
    pos = apply_entry(PositionState(), [FillAmount(D(100), D(1))], 1, T0)
    with pytest.raises(ValueError, match="already"):
        apply_entry(pos, [FillAmount(D(100), D(1))], 1, T0)


@pytest.mark.parametrize(
    "fill",
    [
        FillAmount(D(0), D(1)),
        FillAmount(D(100), D(0)),
        FillAmount(D(100), D(-1)),
        FillAmount(D(100), D(1), D("-0.01")),
    ],
)
def test_invalid_fills_are_rejected(fill: FillAmount) -> None:
    with pytest.raises(ValueError):
        apply_entry(PositionState(), [fill], 1, T0)


def test_empty_fill_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="no fills"):
        apply_entry(PositionState(), [], 1, T0)
    with pytest.raises(ValueError, match="no fills"):
        apply_exit(PositionState(), [])
