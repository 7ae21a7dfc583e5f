"""The trading state rules (domain.trading_state) and the daily loss rule (domain.daily_loss)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from coinpilot.domain.daily_loss import daily_loss
from coinpilot.domain.trading_state import (
    EXCHANGE_BREAKER,
    LOSS_BREAKER,
    TradingState,
    TradingStatus,
    breaker_target,
    may_recover,
    refusal,
)
from coinpilot.domain.types import Side, TradeIntent, TradingMode

D = Decimal
A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
SELLS = [i for i in TradeIntent if i is not TradeIntent.ENTRY]


@pytest.mark.parametrize("intent", list(TradeIntent))
def test_active_allows_everything(intent: TradeIntent) -> None:
    side = Side.BUY if intent in (TradeIntent.ENTRY, TradeIntent.MANUAL) else Side.SELL
    assert refusal(A, side, intent) is None


@pytest.mark.parametrize("intent", SELLS)
def test_reducing_allows_every_sell_and_no_buy(intent: TradeIntent) -> None:
    assert refusal(R, Side.SELL, intent) is None
    assert refusal(R, Side.BUY, TradeIntent.MANUAL) is not None
    assert refusal(R, Side.BUY, TradeIntent.ENTRY) is not None


@pytest.mark.parametrize("intent", SELLS)
def test_halted_allows_only_the_emergency_close(intent: TradeIntent) -> None:
    allowed = refusal(H, Side.SELL, intent) is None
    assert allowed is (intent is TradeIntent.EMERGENCY_CLOSE)
    assert refusal(H, Side.BUY, TradeIntent.MANUAL) is not None


def test_breakers_only_move_active_to_reducing() -> None:
    assert breaker_target(A) is R
    assert breaker_target(R) is None and breaker_target(H) is None


def test_only_the_exchange_breaker_recovers_and_only_its_own_reducing() -> None:
    at = datetime(2024, 3, 1, tzinfo=UTC)
    own = TradingStatus(R, "503s", EXCHANGE_BREAKER, at, TradingMode.MOCK)
    assert may_recover(own, EXCHANGE_BREAKER)
    assert not may_recover(own, LOSS_BREAKER)
    assert not may_recover(TradingStatus(R, "loss", LOSS_BREAKER, at, TradingMode.MOCK), LOSS_BREAKER)
    assert not may_recover(TradingStatus(R, "by hand", "alice", at, TradingMode.MOCK), EXCHANGE_BREAKER)
    assert not may_recover(TradingStatus(H, "503s", EXCHANGE_BREAKER, at, TradingMode.MOCK), EXCHANGE_BREAKER)


def test_a_state_belongs_to_the_mode_it_was_set_in() -> None:
    status = TradingStatus(A, "go", "alice", None, TradingMode.MOCK)
    assert status.effective(TradingMode.MOCK) is A
    assert status.effective(TradingMode.PRODUCTION) is H
    assert TradingStatus(H, "not enabled yet", "install", None, None).effective(TradingMode.MOCK) is H


def test_daily_loss_adds_unrealised_at_the_bid_and_trips_at_the_limit() -> None:
    # realised -30; a position of 1 coin that cost 100, bid 80: -20 unrealised; total -50
    at_limit = daily_loss(D(-30), [(D(1), D(100), D(80))], D(50))
    assert at_limit.unrealised == D(-20) and at_limit.total == D(-50) and at_limit.reached
    assert not daily_loss(D(-30), [(D(1), D(100), D("80.01"))], D(50)).reached
    assert daily_loss(D(-60), [], D(50)).reached  # realised alone
    assert not daily_loss(D(0), [(D(0), D(0), D(1))], D(50)).reached  # flat positions count nothing
