"""What a trade means for the limits (domain/trade_facts.py), and the rules package: every rule
module is run by the safety check, once."""

from __future__ import annotations

import pkgutil
from datetime import UTC, datetime
from decimal import Decimal

from coinpilot.domain import rules
from coinpilot.domain.trade_facts import (
    TradeFact,
    count_trades,
    count_trades_per_bot,
    counts_against_limits,
    inflight_buy_value,
    realised_at,
)
from coinpilot.domain.types import TradeStatus

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
