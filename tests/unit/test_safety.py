import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from coinpilot.domain import safety
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Product
from coinpilot.domain.safety import (
    Decision,
    SafetyContext,
    SafetyRequest,
    day_start,
    validate,
    week_start,
)
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import BotStatus, Side, TradeIntent, TradingMode

D = Decimal
NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
LIM = SafetyLimits()
PRODUCT = Product(
    product_id="BTC-USD",
    base_currency="BTC",
    quote_currency="USD",
    base_increment=D("0.00000001"),
    quote_increment=D("0.01"),
    base_min_size=D("0.00001"),
    quote_min_size=D("1"),
)


def buy(**kw: Any) -> SafetyRequest:
    base = SafetyRequest(
        bot_id=1,
        pair="BTC-USD",
        side=Side.BUY,
        intent=TradeIntent.ENTRY,
        quote_size=D(20),
        base_size=None,
        price=D(50000),
    )
    return replace(base, **kw)


def sell(**kw: Any) -> SafetyRequest:
    base = SafetyRequest(
        bot_id=1,
        pair="BTC-USD",
        side=Side.SELL,
        intent=TradeIntent.STOP_LOSS,
        quote_size=None,
        base_size=D("0.001"),
        price=D(50000),
    )
    return replace(base, **kw)


def ctx(**kw: Any) -> SafetyContext:
    base = SafetyContext(
        now=NOW,
        mode=TradingMode.MOCK,
        trading_state=TradingState.ACTIVE,
        bot_status=BotStatus.RUNNING,
        bot_cooldown_minutes=15,
        bot_max_tranches=3,
        product=PRODUCT,
        trades_today_total=0,
        trades_today_bot=0,
        last_fill_at=None,
        has_open_trade=False,
        position_tranches=1,
        position_base=D("0.002"),
        position_cost=D(25),
        total_exposure=D(25),
        realized_pnl_today=D(0),
        consecutive_losses=0,
        weekly_pnl_position=D(0),
        quote_available=D(1000),
        base_available=D("0.002"),
    )
    return replace(base, **kw)


def codes(d: Decision) -> set[str]:
    return {r.code for r in d.reasons}


def check(req: SafetyRequest, c: SafetyContext, lim: SafetyLimits = LIM) -> Decision:
    return validate(req, c, lim)


def test_baseline_buy_and_sell_are_allowed() -> None:
    assert check(buy(), ctx()).allowed
    assert check(sell(), ctx()).allowed


# --- every limit: allowed exactly at the limit, blocked just past it --------------------------


def test_max_trade_size_allows_at_limit_blocks_past() -> None:
    c = ctx(position_cost=D(0), total_exposure=D(0))
    assert check(buy(quote_size=D(25)), c).allowed
    assert codes(check(buy(quote_size=D("25.01")), c)) == {"MAX_TRADE_SIZE"}


def test_max_trade_size_uses_base_times_price_for_base_orders() -> None:
    c = ctx(position_cost=D(0))
    assert check(buy(quote_size=None, base_size=D("0.0005")), c).allowed  # $25
    refused = check(buy(quote_size=None, base_size=D("0.00050002")), c)
    assert codes(refused) == {"MAX_TRADE_SIZE"}


def test_min_trade_size_allows_at_limit_blocks_below() -> None:
    lim = replace(LIM, min_trade_usd=D(5))
    assert check(buy(quote_size=D(5)), ctx(), lim).allowed
    assert codes(check(buy(quote_size=D("4.99")), ctx(), lim)) == {"MIN_TRADE_SIZE"}


def test_product_quote_minimum_allows_at_minimum_blocks_below() -> None:
    p = replace(PRODUCT, quote_min_size=D(10))
    assert check(buy(quote_size=D(10)), ctx(product=p)).allowed
    assert codes(check(buy(quote_size=D("9.99")), ctx(product=p))) == {"BELOW_PRODUCT_MINIMUM"}


def test_product_base_minimum_applies_to_sells() -> None:
    p = replace(PRODUCT, base_min_size=D("0.001"))
    assert check(sell(base_size=D("0.001")), ctx(product=p)).allowed
    refused = check(sell(base_size=D("0.00099")), ctx(product=p))
    assert codes(refused) == {"BELOW_PRODUCT_MINIMUM"}


def test_daily_loss_limit_trips_when_reached_and_moves_trading_to_reducing() -> None:
    just_under = check(buy(), ctx(realized_pnl_today=D("-49.99")))
    assert just_under.allowed and not just_under.reduce_trading
    at = check(buy(), ctx(realized_pnl_today=D(-50)))
    assert codes(at) == {"DAILY_LOSS_LIMIT"}
    assert at.reduce_trading and not at.allowed


def test_daily_trade_count_allows_last_trade_blocks_one_more() -> None:
    assert check(buy(), ctx(trades_today_total=29, trades_today_bot=0)).allowed
    assert codes(check(buy(), ctx(trades_today_total=30))) == {"DAILY_TRADES"}


def test_daily_trade_count_per_bot_allows_last_trade_blocks_one_more() -> None:
    assert check(buy(), ctx(trades_today_bot=9)).allowed
    assert codes(check(buy(), ctx(trades_today_bot=10))) == {"DAILY_TRADES_BOT"}


def test_cooldown_allows_exactly_when_elapsed_blocks_a_second_before() -> None:
    c = ctx(bot_cooldown_minutes=5)  # the 15-minute floor wins
    assert check(buy(), replace(c, last_fill_at=NOW - timedelta(minutes=15))).allowed
    early = check(buy(), replace(c, last_fill_at=NOW - timedelta(minutes=15) + timedelta(seconds=1)))
    assert codes(early) == {"COOLDOWN"}
    assert "12:00:01" in early.reasons[0].message


def test_bot_cooldown_applies_when_longer_than_the_floor() -> None:
    c = ctx(bot_cooldown_minutes=60)
    assert check(buy(), replace(c, last_fill_at=NOW - timedelta(minutes=60))).allowed
    assert not check(buy(), replace(c, last_fill_at=NOW - timedelta(minutes=59))).allowed


def test_max_tranches_allows_last_tranche_blocks_one_more() -> None:
    assert check(buy(), ctx(position_tranches=2, position_cost=D(50))).allowed
    assert codes(check(buy(), ctx(position_tranches=3, position_cost=D(50)))) == {"MAX_TRANCHES"}


def test_bot_max_tranches_tightens_the_global_limit() -> None:
    assert check(buy(), ctx(bot_max_tranches=2, position_tranches=1)).allowed
    refused = check(buy(), ctx(bot_max_tranches=2, position_tranches=2))
    assert codes(refused) == {"MAX_TRANCHES"}


def test_max_position_allows_reaching_it_blocks_past() -> None:
    assert check(buy(quote_size=D(20)), ctx(position_cost=D(80))).allowed
    assert codes(check(buy(quote_size=D("20.01")), ctx(position_cost=D(80)))) == {"MAX_POSITION"}


def test_max_exposure_allows_reaching_it_blocks_past() -> None:
    assert check(buy(quote_size=D(20)), ctx(total_exposure=D(280))).allowed
    refused = check(buy(quote_size=D("20.01")), ctx(total_exposure=D(280)))
    assert codes(refused) == {"MAX_EXPOSURE"}


def test_the_loss_lock_refuses_buys_until_it_expires_and_never_exits() -> None:
    until = NOW + timedelta(hours=1)
    assert check(buy(), ctx(consecutive_losses=3, loss_lock_until=None)).allowed
    at = check(buy(), ctx(consecutive_losses=3, loss_lock_until=until))
    assert codes(at) == {"CONSECUTIVE_LOSSES"} and not at.reduce_trading
    assert "locked until" in at.reasons[0].message
    assert (
        check(buy(intent=TradeIntent.MANUAL), ctx(loss_lock_until=until)).reasons[0].code
        == "CONSECUTIVE_LOSSES"
    )
    assert check(buy(), ctx(consecutive_losses=3, loss_lock_until=NOW)).allowed  # expired exactly now
    assert check(sell(), ctx(consecutive_losses=3, loss_lock_until=until)).allowed


def test_weekly_loss_per_position_trips_when_reached() -> None:
    assert check(buy(), ctx(weekly_pnl_position=D("-49.99"))).allowed
    assert codes(check(buy(), ctx(weekly_pnl_position=D(-50)))) == {"WEEKLY_LOSS_LIMIT"}


def test_daily_loss_per_position_trips_when_reached() -> None:
    assert check(buy(), ctx(daily_pnl_position=D("-24.99"))).allowed
    refused = check(buy(), ctx(daily_pnl_position=D(-25)))
    assert codes(refused) == {"DAILY_POSITION_LOSS_LIMIT"}
    assert not refused.reduce_trading
    assert check(sell(base_size=D("0.0001")), ctx(daily_pnl_position=D(-25), position_base=D(1))).allowed


def test_reserved_balance_allows_leaving_exactly_the_reserve() -> None:
    assert check(buy(quote_size=D(20)), ctx(quote_available=D(30))).allowed
    refused = check(buy(quote_size=D(20)), ctx(quote_available=D("29.99")))
    assert codes(refused) == {"MIN_RESERVED_BALANCE"}


def test_sell_allows_whole_position_blocks_more_than_position() -> None:
    assert check(sell(base_size=D("0.002")), ctx()).allowed
    refused = check(sell(base_size=D("0.00200001")), ctx(base_available=D(1)))
    assert codes(refused) == {"EXCEEDS_POSITION"}


def test_sell_blocks_more_than_available_balance() -> None:
    refused = check(sell(base_size=D("0.002")), ctx(base_available=D("0.0019")))
    assert codes(refused) == {"INSUFFICIENT_BASE"}


# --- switches, status, product -----------------------------------------------------------------


EXIT_INTENTS = [
    TradeIntent.STOP_LOSS,
    TradeIntent.TRAILING_STOP,
    TradeIntent.TAKE_PROFIT,
    TradeIntent.SIGNAL_EXIT,
    TradeIntent.MANUAL,
    TradeIntent.EMERGENCY_CLOSE,
]


def test_halted_refuses_buys_and_every_sell_but_an_emergency_close() -> None:
    c = ctx(trading_state=TradingState.HALTED)
    assert codes(check(buy(), c)) == {"TRADING_HALTED"}
    assert codes(check(buy(intent=TradeIntent.MANUAL), c)) == {"TRADING_HALTED"}
    for intent in EXIT_INTENTS[:-1]:
        assert codes(check(sell(intent=intent), c)) == {"TRADING_HALTED"}, intent


def test_emergency_close_is_allowed_while_halted_whatever_the_bot_status() -> None:
    c = ctx(trading_state=TradingState.HALTED, bot_status=BotStatus.ERROR)
    assert check(sell(intent=TradeIntent.EMERGENCY_CLOSE), c).allowed


@pytest.mark.parametrize("intent", EXIT_INTENTS)
def test_reducing_allows_every_risk_reducing_sell(intent: TradeIntent) -> None:
    assert check(sell(intent=intent), ctx(trading_state=TradingState.REDUCING)).allowed


@pytest.mark.parametrize("intent", [TradeIntent.ENTRY, TradeIntent.MANUAL])
def test_reducing_refuses_every_buy(intent: TradeIntent) -> None:
    refused = check(buy(intent=intent), ctx(trading_state=TradingState.REDUCING))
    assert codes(refused) == {"TRADING_REDUCING"}


def test_a_trade_needing_attention_blocks_entries_but_not_exits() -> None:
    c = ctx(trade_needs_attention=True)
    assert codes(check(buy(), c)) == {"TRADE_NEEDS_ATTENTION"}
    assert check(sell(intent=TradeIntent.STOP_LOSS), c).allowed


def test_emergency_close_still_cannot_oversell_or_race_an_open_order() -> None:
    c = ctx(trading_state=TradingState.HALTED, has_open_trade=True)
    refused = check(sell(intent=TradeIntent.EMERGENCY_CLOSE, base_size=D(1)), c)
    assert codes(refused) == {"OPEN_TRADE_EXISTS", "EXCEEDS_POSITION", "INSUFFICIENT_BASE"}


@pytest.mark.parametrize("status", [BotStatus.STOPPED, BotStatus.PAUSED, BotStatus.ERROR])
def test_engine_entries_need_a_running_bot(status: BotStatus) -> None:
    assert codes(check(buy(), ctx(bot_status=status))) == {"BOT_NOT_RUNNING"}


@pytest.mark.parametrize("status", [BotStatus.STOPPED, BotStatus.PAUSED, BotStatus.RUNNING])
def test_manual_trades_are_allowed_unless_bot_in_error(status: BotStatus) -> None:
    assert check(buy(intent=TradeIntent.MANUAL), ctx(bot_status=status)).allowed
    assert check(sell(intent=TradeIntent.MANUAL), ctx(bot_status=status)).allowed


def test_manual_trade_refused_for_bot_in_error() -> None:
    refused = check(buy(intent=TradeIntent.MANUAL), ctx(bot_status=BotStatus.ERROR))
    assert codes(refused) == {"BOT_ERROR"}


@pytest.mark.parametrize("status", list(BotStatus))
@pytest.mark.parametrize(
    "intent",
    [
        TradeIntent.STOP_LOSS,
        TradeIntent.TRAILING_STOP,
        TradeIntent.TAKE_PROFIT,
        TradeIntent.SIGNAL_EXIT,
        TradeIntent.MANUAL,
        TradeIntent.EMERGENCY_CLOSE,
    ],
)
def test_exits_are_allowed_in_every_bot_status(status: BotStatus, intent: TradeIntent) -> None:
    assert check(sell(intent=intent), ctx(bot_status=status)).allowed


def test_open_trade_blocks_buys_and_sells() -> None:
    assert codes(check(buy(), ctx(has_open_trade=True))) == {"OPEN_TRADE_EXISTS"}
    assert codes(check(sell(), ctx(has_open_trade=True))) == {"OPEN_TRADE_EXISTS"}


@pytest.mark.parametrize(
    "product",
    [
        replace(PRODUCT, trading_disabled=True),
        replace(PRODUCT, cancel_only=True),
        replace(PRODUCT, status="delisted"),
    ],
)
def test_untradable_product_is_refused(product: Product) -> None:
    assert codes(check(buy(), ctx(product=product))) == {"PRODUCT_NOT_TRADABLE"}


def test_unknown_or_mismatched_product_is_refused() -> None:
    assert "PRODUCT_UNKNOWN" in codes(check(buy(), ctx(product=None)))
    refused = check(buy(), ctx(product=replace(PRODUCT, product_id="ETH-USD")))
    assert codes(refused) == {"PRODUCT_MISMATCH"}


def test_unknown_balances_fail_closed() -> None:
    assert codes(check(buy(), ctx(quote_available=None))) == {"BALANCE_UNKNOWN"}
    assert codes(check(sell(), ctx(base_available=None))) == {"BALANCE_UNKNOWN"}


@pytest.mark.parametrize(
    "req",
    [
        buy(quote_size=None),
        buy(quote_size=D(0)),
        buy(base_size=D("0.0001")),
        sell(base_size=None, quote_size=D(10)),
    ],
)
def test_malformed_sizes_are_refused(req: SafetyRequest) -> None:
    d = check(req, ctx())
    assert not d.allowed and "INVALID_SIZE" in codes(d)


def test_intent_must_match_side() -> None:
    assert "INVALID_INTENT" in codes(check(buy(intent=TradeIntent.TAKE_PROFIT), ctx()))
    assert "INVALID_INTENT" in codes(check(sell(intent=TradeIntent.ENTRY), ctx()))


# --- exits bypass risk-increasing limits -----------------------------------------------------


def test_exit_bypasses_counts_cooldown_position_losses_and_reserve() -> None:
    c = ctx(
        trades_today_total=30,
        trades_today_bot=10,
        last_fill_at=NOW,
        position_tranches=3,
        position_cost=D(1000),
        total_exposure=D(5000),
        realized_pnl_today=D(-100),
        consecutive_losses=9,
        loss_lock_until=NOW + timedelta(hours=1),
        weekly_pnl_position=D(-500),
        daily_pnl_position=D(-500),
        quote_available=D(0),
        position_base=D(1),
        base_available=D(1),
    )
    for intent in (TradeIntent.TAKE_PROFIT, TradeIntent.SIGNAL_EXIT, TradeIntent.MANUAL):
        d = check(sell(intent=intent, base_size=D(1)), c)  # $50,000: over max_trade_usd too
        assert d.allowed, d.reasons
        assert not d.reduce_trading
    assert "cooldown" not in check(sell(), c).checks
    refused = check(buy(), c)
    assert {"DAILY_TRADES", "COOLDOWN", "MAX_TRANCHES", "DAILY_LOSS_LIMIT"} <= codes(refused)


def test_validate_returns_every_reason_not_the_first() -> None:
    c = ctx(
        trading_state=TradingState.HALTED,
        has_open_trade=True,
        trades_today_bot=10,
        consecutive_losses=5,
        loss_lock_until=NOW + timedelta(hours=1),
    )
    d = check(buy(quote_size=D(30)), c)
    assert codes(d) == {
        "TRADING_HALTED",
        "OPEN_TRADE_EXISTS",
        "DAILY_TRADES_BOT",
        "CONSECUTIVE_LOSSES",
        "MAX_TRADE_SIZE",
    }


def test_exception_inside_a_check_refuses_with_check_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    checks = tuple((n, broken if n == "cooldown" else f) for n, f in safety.CHECKS)
    monkeypatch.setattr(safety, "CHECKS", checks)
    d = check(buy(), ctx())
    assert not d.allowed
    assert [r.code for r in d.reasons] == ["CHECK_ERROR"]
    assert "'cooldown'" in d.reasons[0].message and "boom" in d.reasons[0].message


def test_bad_data_in_context_fails_closed() -> None:
    naive = datetime(2024, 3, 1, 11)  # naive: must not pass silently
    d = check(buy(), ctx(last_fill_at=naive))
    assert not d.allowed and "CHECK_ERROR" in codes(d)


def test_every_refusal_message_is_readable() -> None:
    c = ctx(trading_state=TradingState.HALTED, consecutive_losses=5, trade_needs_attention=True)
    for r in check(buy(quote_size=D(500)), c).reasons:
        assert len(r.message) > 20 and r.message[0].isupper()


def test_decision_request_and_context_serialise_to_json() -> None:
    c = ctx(last_fill_at=NOW)
    d = check(buy(), c)
    for obj in (d.to_dict(), buy().to_dict(), c.to_dict()):
        json.loads(json.dumps(obj))
    assert buy().to_dict()["quote_size"] == "20"
    assert c.to_dict()["product"]["quote_min_size"] == "1"
    assert c.to_dict()["now"] == "2024-03-01T12:00:00+00:00"
    assert "trade_size" in d.to_dict()["checks"]


def test_day_and_week_start_are_utc_boundaries() -> None:
    t = datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC)  # a Friday
    assert day_start(t) == datetime(2024, 3, 1, tzinfo=UTC)
    assert week_start(t) == datetime(2024, 2, 26, tzinfo=UTC)
    assert week_start(datetime(2024, 2, 26, tzinfo=UTC)) == datetime(2024, 2, 26, tzinfo=UTC)
    with pytest.raises(ValueError):
        day_start(datetime(2024, 3, 1))
