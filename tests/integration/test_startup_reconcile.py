"""Start-up with unfinished trades and a hanging exchange (issue 10, bounded waits): the API and
dashboard are served at once, reconciliation runs in the background and says "reconciling n
trades", and trading is held (refused, nothing sent) until it has finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from coinpilot.api.app import create_app
from coinpilot.cli.server import start_order_services
from coinpilot.domain.clock import FakeClock
from coinpilot.domain.exchange_values import OrderSnapshot
from coinpilot.domain.types import Side, TradeStatus, TradingMode
from coinpilot.runtime.background import start_engine
from coinpilot.services import Services, build_services
from tests.integration._fakes import FakeExchange, enable_trading, make_bot

MOCK = TradingMode.MOCK


class HangingExchange(FakeExchange):
    """Order look-ups block until the test lets them go (an exchange that does not answer)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, fill_delay_seconds=0, balances={"USD": Decimal("1000")})
        self.hang = threading.Event()
        self.release = threading.Event()

    def _wait(self) -> None:
        if self.hang.is_set():
            self.release.wait(20)

    def get_order(self, order_id: str) -> OrderSnapshot:
        self._wait()
        return super().get_order(order_id)

    def get_orders(self, order_ids: Sequence[str]) -> list[OrderSnapshot]:
        self._wait()
        return super().get_orders(order_ids)


@pytest.fixture
def rig(settings, db_url) -> Iterator[tuple[Services, HangingExchange, int]]:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    exchange = HangingExchange(clock)
    svc = build_services(settings, clock=clock, market=exchange.market, exchange=exchange, migrate=False)
    bot = make_bot(svc.sessions, clock, "BTC-USD")
    enable_trading(svc.sessions, clock, MOCK)
    placed = svc.trades.execute(bot, Side.BUY, quote_size="10")  # left unfinished by the "crash"
    assert placed.trade is not None and placed.trade.status == TradeStatus.OPEN.value
    exchange.hang.set()
    yield svc, exchange, bot
    exchange.release.set()
    svc.close()


@pytest.mark.parametrize("starter", [start_engine, start_order_services])
def test_start_up_serves_at_once_and_holds_trading_while_reconciling(rig, settings, starter) -> None:  # type: ignore[no-untyped-def]
    svc, exchange, bot = rig
    started = time.monotonic()
    stop = starter(svc)
    try:
        assert time.monotonic() - started < 2, "start-up waited for the exchange"
        assert svc.reconciling is not None and "reconciling 1 trade" in svc.reconciling
        app = create_app(settings, svc)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            ready = client.get("/ready")
            assert ready.status_code == 503 and "reconciling 1 trade" in ready.text
        held = svc.trades.execute(bot, Side.BUY, quote_size="10")
        assert held.trade is None
        assert held.decision["reasons"][0]["code"] == "RECONCILING"
        assert "reconciling 1 trade" in held.decision["reasons"][0]["message"]
        orders_before = len(exchange.orders)

        exchange.release.set()
        deadline = time.monotonic() + 10
        while not svc.reconciled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.reconciled and svc.reconciling is None
        assert len(exchange.orders) == orders_before  # nothing was sent while held
        after = svc.trades.execute(bot, Side.SELL, base_size="0.0001")
        assert after.trade is not None, after.decision  # trading resumed
    finally:
        stop()
