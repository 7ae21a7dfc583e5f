"""The decision kernel (domain/state.py, domain/kernel.py): each event advances the state the
way the live engine's tables do, and the safety context built from it is what safety judges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from coinpilot.domain import kernel
from coinpilot.domain.bot import BotConfig
from coinpilot.domain.decision import Signal
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import BestBidAsk, Product
from coinpilot.domain.position import FillAmount
from coinpilot.domain.safety_types import day_start, week_start
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.state import AccountState, BotState
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.trading_state import TradingState
from coinpilot.domain.types import (
    Action,
    BotStatus,
    Side,
    TemperatureLevel,
    TradeIntent,
    TradeStatus,
    TradingMode,
)

D = Decimal
T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # a Monday
LIMITS = SafetyLimits(cooldown_minutes=0, min_reserved_balance_usd=D("0"))
PRODUCT = Product("BTC-USD", "BTC", "USD", D("0.00000001"), D("0.01"), D("0.00000001"), D("1"))
STRATEGY = StrategyConfig.from_dict(
    {"stop_loss_pct": "5", "take_profit_ladder": [["10", "50"], ["20", "100"]]}
)
CONFIG = BotConfig(
    pair="BTC-USD",
    signals=SignalConfig.default(),
    buy_threshold=0.5,
    sell_threshold=0.5,
    confirmation_minutes=10,
    trade_size_usd=D("20"),
    cooldown_minutes=0,
    max_tranches=3,
)
BUY = Signal(Action.BUY, True, TemperatureLevel.HOT, 0.9)


def bot(**kw: object) -> BotState:
    return replace(BotState(1, "BTC-USD", BotStatus.RUNNING, CONFIG, STRATEGY), **kw)  # type: ignore[arg-type]


def account(**kw: object) -> AccountState:
    base = AccountState(TradingMode.MOCK, TradingState.ACTIVE, balances={"USD": D("1000"), "BTC": D("10")})
    return replace(base, **kw)  # type: ignore[arg-type]


def quote(bid: str, ask: str | None = None) -> BestBidAsk:
    return BestBidAsk("BTC-USD", D(bid), D(ask or bid), T0)


def buy_and_fill(b: BotState, a: AccountState, price: str, now: datetime) -> tuple[BotState, AccountState]:
    b, intent = kernel.step(b, a, quote(price), BUY, now, PRODUCT, LIMITS)
    assert intent is not None and intent.side is Side.BUY
    assert kernel.approve(b, a, intent, PRODUCT, now, LIMITS).allowed
    b, a = kernel.on_order_accepted(b, a, intent, now)
    assert intent.quote_size is not None
    fill = FillAmount(D(price), intent.quote_size / D(price))
    return kernel.on_fill(b, a, [fill], now, PRODUCT, LIMITS)


def test_confirmation_needs_its_period_and_restarts_after_a_gap() -> None:
    b, status = kernel.on_evaluation(bot(), Action.BUY, T0, interval_seconds=60)
    assert not status.confirmed
    b, status = kernel.on_evaluation(b, Action.BUY, T0 + timedelta(minutes=10), interval_seconds=60 * 30)
    assert status.confirmed
    # Two hours unobserved (more than one hourly candle): the BUY starts over.
    b, status = kernel.on_evaluation(b, Action.BUY, T0 + timedelta(hours=2, minutes=10), interval_seconds=60)
    assert not status.confirmed
    assert b.confirmation.action.since == T0 + timedelta(hours=2, minutes=10)


def test_an_accepted_buy_is_in_flight_counted_and_restarts_the_confirmation() -> None:
    b, _ = kernel.on_evaluation(bot(), Action.BUY, T0 - timedelta(minutes=10))
    a = account()
    b, intent = kernel.step(b, a, quote("100"), BUY, T0, PRODUCT, LIMITS)
    assert intent is not None and intent.quote_size == D("20")
    b, a = kernel.on_order_accepted(b, a, intent, T0, trade_id=7)
    assert b.order is not None and b.order.trade_id == 7
    assert (b.protections.trades_today, a.trades_today, a.buys_in_flight) == (1, 1, D("20"))
    assert b.confirmation.action.since == T0
    # One order at a time: nothing more is decided, and a second acceptance is refused.
    assert kernel.step(b, a, quote("100"), BUY, T0, PRODUCT, LIMITS)[1] is None
    with pytest.raises(ValueError):
        kernel.on_order_accepted(b, a, intent, T0)
    ctx = kernel.safety_context(b, a, kernel.request_of(intent), PRODUCT, T0, LIMITS)
    assert ctx.has_open_trade and ctx.position_cost == D("20") and ctx.total_exposure == D("20")


def test_a_buy_that_never_reached_the_exchange_no_longer_counts() -> None:
    b, a = bot(), account()
    b, intent = kernel.step(b, a, quote("100"), BUY, T0, PRODUCT, LIMITS)
    assert intent is not None
    b, a = kernel.on_order_accepted(b, a, intent, T0)
    b, a = kernel.on_order_final(b, a, TradeStatus.FAILED, T0)
    assert b.order is None and (b.protections.trades_today, a.trades_today) == (0, 0)
    assert a.buys_in_flight == 0
    # Acknowledged then cancelled: it reached the market, it still counts.
    b, a = kernel.on_order_accepted(b, a, intent, T0)
    b = kernel.on_order_acknowledged(b)
    b, a = kernel.on_order_final(b, a, TradeStatus.CANCELLED, T0)
    assert (b.protections.trades_today, a.trades_today) == (1, 1)


def test_fills_build_the_position_cycle_and_exposure() -> None:
    b, a = buy_and_fill(bot(), account(), "100", T0)
    assert b.position.base_size == D("0.2") and b.cycle.opened_at == T0
    assert a.exposure == D("20") and a.buys_in_flight == 0 and b.order is None
    assert b.protections.last_fill_at == T0
    b, a = kernel.on_quote(b, a, D("110"))
    assert b.cycle.high_water == D("110") and a.unrealised == D("2") and b.unrealised == D("2")
    b, a = kernel.on_quote(b, a, D("105"))
    assert b.cycle.high_water == D("110") and a.unrealised == D("1")


def test_a_take_profit_rung_is_taken_once_and_realised_pnl_is_dated_by_fill_time() -> None:
    b, a = buy_and_fill(bot(), account(), "100", T0)
    now = T0 + timedelta(hours=1)
    b, intent = kernel.step(b, a, quote("111"), None, now, PRODUCT, LIMITS)
    assert intent is not None and intent.intent is TradeIntent.TAKE_PROFIT and intent.rung == 0
    b, a = kernel.on_order_accepted(b, a, intent, now)
    assert intent.base_size is not None
    b, a = kernel.on_fill(b, a, [FillAmount(D("111"), intent.base_size)], now, PRODUCT, LIMITS)
    assert b.cycle.rungs_taken == frozenset({0})
    assert b.protections.realised_today == D("1.1") == a.realised_today
    assert b.protections.realised_week == D("1.1")
    # A fill of yesterday settled today counts for the week, not for today.
    b, intent = kernel.step(b, a, quote("121"), None, now, PRODUCT, LIMITS)
    assert intent is not None and intent.rung == 1
    b, a = kernel.on_order_accepted(b, a, intent, now)
    assert intent.base_size is not None
    b, a = kernel.on_fill(
        b, a, [FillAmount(D("121"), intent.base_size)], now, PRODUCT, LIMITS, now=now + timedelta(days=1)
    )
    assert b.position.is_flat and b.cycle.rungs_taken == frozenset()
    assert b.protections.realised_today == 0 == a.realised_today
    assert b.protections.realised_week == D("3.2")


def test_roll_day_resets_daily_counters_and_the_week_resets_weekly_ones() -> None:
    b, a = buy_and_fill(bot(), account(), "100", T0)
    b = replace(b, protections=replace(b.protections, realised_today=D("-5"), realised_week=D("-7")))
    a = replace(a, realised_today=D("-5"))
    tomorrow = T0 + timedelta(days=1)
    b2, a2 = kernel.roll_day(b, tomorrow), kernel.roll_day(a, tomorrow)
    assert (b2.protections.trades_today, b2.protections.realised_today) == (0, 0)
    assert b2.protections.realised_week == D("-7")
    assert (a2.trades_today, a2.realised_today) == (0, 0)
    assert kernel.roll_day(b, T0 + timedelta(days=7)).protections.realised_week == 0
    assert kernel.roll_day(b2, tomorrow) is b2  # nothing to roll twice


def test_roll_day_answers_each_instant_with_its_own_day() -> None:
    # roll_day remembers the last instant's day: another instant, even right after, gets its own.
    tomorrow, next_week = T0 + timedelta(days=1), T0 + timedelta(days=7)
    for now in (T0, T0, tomorrow, T0, next_week, next_week, T0):
        assert kernel.roll_day(bot(), now).protections.day == day_start(now)
        assert kernel.roll_day(bot(), now).protections.week == week_start(now)
        assert kernel.roll_day(account(), now).day == day_start(now)


def test_losing_exits_lock_entries_until_the_lock_expires_or_a_person_resumes() -> None:
    limits = replace(LIMITS, max_consecutive_losses=2, loss_streak_lock_hours=1)
    b, a = bot(), account()
    now = T0
    for _ in range(2):
        b, a = buy_and_fill(b, a, "100", now)
        now += timedelta(minutes=1)
        b, intent = kernel.step(b, a, quote("90"), None, now, PRODUCT, limits)
        assert intent is not None and intent.intent is TradeIntent.STOP_LOSS
        b, a = kernel.on_order_accepted(b, a, intent, now)
        assert intent.base_size is not None
        b, a = kernel.on_fill(b, a, [FillAmount(D("90"), intent.base_size)], now, PRODUCT, limits)
        now += timedelta(minutes=1)
    assert b.protections.loss_lock.losses == 2
    b, intent = kernel.step(b, a, quote("100"), BUY, now, PRODUCT, limits)
    assert intent is not None
    codes = {r.code for r in kernel.approve(b, a, intent, PRODUCT, now, limits).reasons}
    assert codes == {"CONSECUTIVE_LOSSES"}
    assert kernel.approve(b, a, intent, PRODUCT, now + timedelta(hours=1), limits).allowed
    assert kernel.approve(kernel.resumed(b, now), a, intent, PRODUCT, now, limits).allowed


def test_a_stuck_order_blocks_entries_but_not_the_stop_loss() -> None:
    b, a = buy_and_fill(bot(), account(), "100", T0)
    b, intent = kernel.step(b, a, quote("112"), None, T0, PRODUCT, LIMITS)
    assert intent is not None
    b, a = kernel.on_order_accepted(b, a, intent, T0)
    b = kernel.on_order_needs_attention(b)
    assert b.order is None and b.needs_attention
    b, stop = kernel.step(b, a, quote("90"), None, T0, PRODUCT, LIMITS)
    assert stop is not None and stop.intent is TradeIntent.STOP_LOSS
    assert kernel.approve(b, a, stop, PRODUCT, T0, LIMITS).allowed
    # A stuck buy of a flat bot: its next entry is refused until a person resolves it.
    flat, a = bot(), account()
    flat, entry = kernel.step(flat, a, quote("100"), BUY, T0, PRODUCT, LIMITS)
    assert entry is not None
    flat, a = kernel.on_order_accepted(flat, a, entry, T0)
    flat = kernel.on_order_needs_attention(flat)
    flat, again = kernel.step(flat, a, quote("100"), BUY, T0, PRODUCT, LIMITS)
    assert again is not None
    codes = {r.code for r in kernel.approve(flat, a, again, PRODUCT, T0, LIMITS).reasons}
    assert "TRADE_NEEDS_ATTENTION" in codes


def test_reducing_refuses_buys_and_allows_the_stop_loss() -> None:
    b, a = buy_and_fill(bot(), account(), "100", T0)
    a = replace(a, trading_state=TradingState.REDUCING)
    b, stop = kernel.step(b, a, quote("90"), None, T0, PRODUCT, LIMITS)
    assert stop is not None and kernel.approve(b, a, stop, PRODUCT, T0, LIMITS).allowed
    flat, entry = kernel.step(bot(), a, quote("100"), BUY, T0, PRODUCT, LIMITS)
    assert entry is not None
    codes = {r.code for r in kernel.approve(flat, a, entry, PRODUCT, T0, LIMITS).reasons}
    assert codes == {"TRADING_REDUCING"}


def test_the_daily_loss_figure_counts_realised_and_unrealised() -> None:
    b, a = buy_and_fill(bot(), account(realised_today=D("-40")), "100", T0)
    b, a = kernel.on_quote(b, a, D("40"))
    loss = kernel.daily_loss(a, LIMITS)
    assert loss.unrealised == D("-12") and loss.total == D("-52") and loss.reached


def test_the_loss_lock_follows_its_window_when_judged_later() -> None:
    limits = replace(LIMITS, max_consecutive_losses=1, loss_streak_lookback_hours=1, loss_streak_lock_hours=2)
    b, a = buy_and_fill(bot(), account(), "100", T0)
    b, stop = kernel.step(b, a, quote("90"), None, T0, PRODUCT, limits)
    assert stop is not None and stop.base_size is not None
    b, a = kernel.on_order_accepted(b, a, stop, T0)
    b, a = kernel.on_fill(b, a, [FillAmount(D("90"), stop.base_size)], T0, PRODUCT, limits)
    assert b.protections.loss_lock.until == T0 + timedelta(hours=2)
    later = T0 + timedelta(minutes=90)  # the exit left the 1-hour window: it no longer locks
    assert kernel.refresh_loss_lock(b, later, limits).protections.loss_lock.until is None
    b, entry = kernel.step(b, a, quote("100"), BUY, later, PRODUCT, limits)
    assert entry is not None and kernel.approve(b, a, entry, PRODUCT, later, limits).allowed


def test_the_safety_context_alone_recomputes_the_loss_lock_at_the_check_time() -> None:
    """Any caller of ``safety_context`` (not only ``approve``) sees the lock as of ``now``: the
    state's lock was computed at the exit and has expired by the check."""
    limits = replace(LIMITS, max_consecutive_losses=1, loss_streak_lookback_hours=1, loss_streak_lock_hours=2)
    b, a = buy_and_fill(bot(), account(), "100", T0)
    b, stop = kernel.step(b, a, quote("90"), None, T0, PRODUCT, limits)
    assert stop is not None and stop.base_size is not None
    b, a = kernel.on_order_accepted(b, a, stop, T0)
    b, a = kernel.on_fill(b, a, [FillAmount(D("90"), stop.base_size)], T0, PRODUCT, limits)
    assert b.protections.loss_lock == kernel.refresh_loss_lock(b, T0, limits).protections.loss_lock
    assert b.protections.loss_lock.until == T0 + timedelta(hours=2)
    b, entry = kernel.step(b, a, quote("100"), BUY, T0, PRODUCT, limits)
    assert entry is not None
    request = kernel.request_of(entry)
    at_exit = kernel.safety_context(b, a, request, PRODUCT, T0, limits)
    assert (at_exit.consecutive_losses, at_exit.loss_lock_until) == (1, T0 + timedelta(hours=2))
    later = T0 + timedelta(minutes=90)  # the exit left the 1-hour window between exit and check
    ctx = kernel.safety_context(b, a, request, PRODUCT, later, limits)
    assert (ctx.consecutive_losses, ctx.loss_lock_until) == (0, None)
    # The same answer as the verdict: the entry is allowed at that time.
    assert kernel.approve(b, a, entry, PRODUCT, later, limits).allowed
