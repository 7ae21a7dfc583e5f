"""What a trade means for the limits (domain/trade_facts.py), and the rules package: every rule
module is run by the safety check, once."""

from __future__ import annotations

import pkgutil
from datetime import UTC, datetime
from decimal import Decimal

from coinpilot.domain import rules
from coinpilot.domain.trade_facts import (
    OpenOrderFact,
    TradeFact,
    count_trades,
    count_trades_per_bot,
    counts_against_limits,
    counts_as_buy_in_flight,
    exposure,
    inflight_buy_value,
    realised_at,
    shown_by_balance_read,
    unheld_by_orders,
)
from coinpilot.domain.types import Side, TradeStatus

D = Decimal
T0 = datetime(2024, 3, 1, 23, 59, tzinfo=UTC)
T1 = datetime(2024, 3, 2, 0, 1, tzinfo=UTC)


def test_only_a_trade_refused_before_the_exchange_acknowledged_it_does_not_count() -> None:
    assert not counts_against_limits(TradeStatus.FAILED, acknowledged=False)
    assert counts_against_limits(TradeStatus.FAILED, acknowledged=True)
    for status in TradeStatus:
        if status is not TradeStatus.FAILED:
            assert counts_against_limits(status, acknowledged=False)


def test_grouped_facts_count_per_bot_and_in_total() -> None:
    facts = [
        TradeFact(1, TradeStatus.SETTLED, True, 3),
        TradeFact(1, TradeStatus.FAILED, False, 5),
        TradeFact(2, TradeStatus.PENDING, False, 1),
        TradeFact(2, TradeStatus.FAILED, True, 2),
    ]
    assert (count_trades(facts), count_trades(facts, 1), count_trades(facts, 2)) == (6, 3, 3)
    assert count_trades_per_bot(facts) == {1: 3, 2: 3}


def test_a_buy_in_flight_is_valued_by_its_quote_else_its_fill_else_its_approved_price() -> None:
    assert inflight_buy_value(D("20"), None, None, None) == D("20")
    assert inflight_buy_value(None, D("0.5"), D("90"), D("100")) == D("45")
    assert inflight_buy_value(None, D("0.5"), None, D("100")) == D("50")
    assert inflight_buy_value(None, D("0.5"), None, None) == 0


READ = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # when the balances were read
BEFORE, AFTER = datetime(2024, 3, 1, 11, 59, tzinfo=UTC), datetime(2024, 3, 1, 12, 1, tzinfo=UTC)


def test_only_an_order_acknowledged_before_the_balance_read_is_shown_by_it() -> None:
    assert shown_by_balance_read(BEFORE, READ)
    assert not shown_by_balance_read(None, READ)  # not acknowledged yet (PENDING)
    assert not shown_by_balance_read(AFTER, READ)
    assert not shown_by_balance_read(READ, READ)  # the same instant: not trusted


def test_unacknowledged_orders_are_taken_off_the_balances_they_will_spend() -> None:
    orders = [
        # Unacknowledged buys spend the quote currency, at their value.
        OpenOrderFact("BTC-USD", Side.BUY, None, None, D("20")),
        OpenOrderFact("ETH-USD", Side.BUY, AFTER, None, D("5")),
        # Unacknowledged sells spend the base currency, their whole base size.
        OpenOrderFact("BTC-USD", Side.SELL, None, D("0.1"), D("999")),  # a sell's buy_value is unused
        OpenOrderFact("ETH-USD", Side.SELL, READ, D("2"), D("0")),
        # Acknowledged before the read: the exchange's available already holds them.
        OpenOrderFact("BTC-USD", Side.BUY, BEFORE, None, D("1000")),
        OpenOrderFact("BTC-USD", Side.SELL, BEFORE, D("7"), D("0")),
        # A sell with no base size asked for holds nothing that can be counted.
        OpenOrderFact("SOL-USD", Side.SELL, None, None, D("0")),
    ]
    assert unheld_by_orders(orders, READ) == {"USD": D("25"), "BTC": D("0.1"), "ETH": D("2")}
    assert unheld_by_orders([], READ) == {}


def test_a_partially_filled_order_counts_whole_unless_the_read_shows_it() -> None:
    # A base-sized buy half filled at 101 before it was acknowledged: valued at its fill price.
    half_filled_buy = inflight_buy_value(None, D("0.2"), D("101"), D("100"))
    assert half_filled_buy == D("20.2")
    sell = OpenOrderFact("BTC-USD", Side.SELL, AFTER, D("0.3"))
    buy = OpenOrderFact("BTC-USD", Side.BUY, AFTER, D("0.2"), half_filled_buy)
    # The read may show neither the hold nor the part already filled: the whole orders count.
    assert unheld_by_orders([sell, buy], READ) == {"BTC": D("0.3"), "USD": D("20.2")}
    # Acknowledged before the read: hold and fills are in the exchange's figure already.
    acked = [OpenOrderFact("BTC-USD", s.side, BEFORE, s.base_size, s.buy_value) for s in (sell, buy)]
    assert unheld_by_orders(acked, READ) == {}


def test_only_unapplied_buys_are_in_flight_and_exposure_counts_them() -> None:
    assert counts_as_buy_in_flight(Side.BUY, position_applied=False)
    assert not counts_as_buy_in_flight(Side.BUY, position_applied=True)  # in the position's cost
    assert not counts_as_buy_in_flight(Side.SELL, position_applied=False)
    assert counts_as_buy_in_flight("buy", position_applied=False)  # a loaded column value
    assert exposure(D("50"), [D("20"), D("5")]) == D("75")
    assert exposure(D("0"), []) == D("0")


def test_realised_pnl_is_dated_by_the_last_fill_not_by_the_settlement() -> None:
    assert realised_at(T0, T1) == T0
    assert realised_at(None, T1) == T1


def test_every_rule_module_is_run_once_by_the_safety_check() -> None:
    modules = {m.name for m in pkgutil.iter_modules(rules.__path__)} - {"base"}
    checks = [fn for _name, fn in rules.CHECKS]
    assert len(set(checks)) == len(checks)
    assert {fn.__module__.rsplit(".", 1)[1] for fn in checks} == modules
    names = [name for name, _fn in rules.CHECKS]
    assert len(set(names)) == len(names)
