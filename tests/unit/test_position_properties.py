"""Hypothesis properties of the position math (ARCHITECTURE.md "Position math")."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.domain.position import FillAmount, PositionState, apply_entry, apply_exit

T0 = datetime(2024, 3, 1, tzinfo=UTC)
C0 = Decimal("10000")
WIDE = Context(prec=80)

prices = st.decimals(min_value="0.01", max_value="200000", places=2)
bases = st.decimals(min_value="0.00000001", max_value="50", places=8)
fees = st.decimals(min_value="0", max_value="25", places=6)


@dataclass(frozen=True)
class Step:
    buy: bool
    fraction: Decimal  # for sells: share of the held size to sell (1 = close everything)
    fill: FillAmount


steps = st.builds(
    Step,
    buy=st.booleans(),
    fraction=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.3"), Decimal("0.999")]),
    fill=st.builds(FillAmount, price=prices, base_size=bases, fee=fees),
)


@dataclass
class Book:
    """The test's own cash ledger, independent of the code under test."""

    pos: PositionState
    cash: Decimal
    trade_id: int = 0


def run(book: Book, step: Step) -> Decimal | None:
    """Apply a step; return the traded price, or None when it was a sell from flat."""
    f = step.fill
    if step.buy:
        book.trade_id += 1
        book.pos = apply_entry(book.pos, [f], book.trade_id, T0)
        with localcontext(WIDE):
            book.cash -= f.base_size * f.price + f.fee
        return f.price
    if book.pos.base_size == 0:
        return None
    with localcontext(WIDE):
        size = book.pos.base_size * step.fraction
        size = size.quantize(Decimal("1e-8")) or book.pos.base_size
        size = min(size, book.pos.base_size)
        book.pos, _ = apply_exit(book.pos, [FillAmount(f.price, size, f.fee)])
        book.cash += size * f.price - f.fee
    return f.price


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=25), prices)
def test_realised_plus_unrealised_equals_cash_plus_holdings_minus_start(
    seq: list[Step], mark: Decimal
) -> None:
    book = Book(PositionState(), C0)
    for step in seq:
        run(book, step)
        with localcontext(WIDE):
            lhs = book.pos.realized_pnl + book.pos.unrealized_pnl(mark)
            rhs = book.cash + book.pos.base_size * mark - C0
        assert lhs == rhs


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, min_size=1, max_size=25))
def test_equity_changes_only_by_market_moves_and_fees(seq: list[Step]) -> None:
    book = Book(PositionState(), C0)
    last_price: Decimal | None = None
    for step in seq:
        size_before = book.pos.base_size
        with localcontext(WIDE):
            mark_before = last_price if last_price is not None else step.fill.price
            equity_before = book.cash + size_before * mark_before
            pnl_before = book.pos.realized_pnl + book.pos.unrealized_pnl(mark_before)
        price = run(book, step)
        if price is None:
            continue
        with localcontext(WIDE):
            equity_after = book.cash + book.pos.base_size * price
            pnl_after = book.pos.realized_pnl + book.pos.unrealized_pnl(price)
            expected = size_before * (price - mark_before) - step.fill.fee
            assert equity_after - equity_before == expected
            assert pnl_after - pnl_before == expected
        last_price = price


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(FillAmount, price=prices, base_size=bases, fee=fees), min_size=1))
def test_fee_free_average_entry_lies_between_min_and_max_entry_price(
    buys: list[FillAmount],
) -> None:
    free = PositionState()
    with_fees = PositionState()
    for i, f in enumerate(buys):
        free = apply_entry(free, [FillAmount(f.price, f.base_size)], i, T0)
        with_fees = apply_entry(with_fees, [f], i, T0)
    lo, hi = min(f.price for f in buys), max(f.price for f in buys)
    assert free.avg_entry_price is not None and with_fees.avg_entry_price is not None
    assert lo <= free.avg_entry_price <= hi
    # fees only ever raise the average entry: the cost differs by exactly the fees paid
    assert with_fees.avg_entry_price >= free.avg_entry_price
    assert with_fees.cost - with_fees.total_fees == free.cost


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.builds(FillAmount, price=prices, base_size=bases, fee=fees), min_size=1),
    st.lists(st.tuples(st.sampled_from(["0.1", "0.25", "0.5"]), prices), max_size=5),
)
def test_partial_exits_leave_the_average_entry_unchanged(
    buys: list[FillAmount], sells: list[tuple[str, Decimal]]
) -> None:
    pos = PositionState()
    for i, f in enumerate(buys):
        pos = apply_entry(pos, [f], i, T0)
    avg = pos.avg_entry_price
    assert avg is not None
    for frac, price in sells:
        size = (pos.base_size * Decimal(frac)).quantize(Decimal("1e-8"))
        if size == 0 or size >= pos.base_size:
            continue
        pos, _ = apply_exit(pos, [FillAmount(price, size)])
        assert pos.avg_entry_price is not None
        # the exit cost share is rounded to 1e-18: the average may move by that over the size
        assert abs(pos.avg_entry_price - avg) <= Decimal("1e-18") / pos.base_size
        avg = pos.avg_entry_price


@settings(max_examples=300, deadline=None)
@given(st.lists(steps, max_size=25), prices, fees)
def test_closing_everything_leaves_nothing_and_realised_equals_cash_difference(
    seq: list[Step], close_price: Decimal, close_fee: Decimal
) -> None:
    book = Book(PositionState(), C0)
    for step in seq:
        run(book, step)
    if book.pos.base_size > 0:
        run(book, Step(False, Decimal(1), FillAmount(close_price, Decimal(1), close_fee)))
    assert book.pos.base_size == 0
    assert book.pos.cost == 0
    assert book.pos.tranches == ()
    with localcontext(WIDE):
        assert book.pos.realized_pnl == book.cash - C0
