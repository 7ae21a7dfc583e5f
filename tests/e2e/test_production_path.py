"""Production mode end to end, in process, through the real SDK against the Coinbase stand-in:
bot -> evaluation -> confirmation -> safety -> CoinbaseExchange -> HTTPS + JWT -> stand-in ->
fills -> SETTLED -> position and P&L, checked to the cent against figures computed here from
the stand-in's own fills. Also market data through build_services' cached market.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.signal_config import SignalConfig
from coinpilot.domain.types import Action, BotStatus, Granularity, Side, TradeIntent, TradeStatus
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.services import Services, build_services
from coinpilot.store.models import Bot, Trade
from coinpilot.store.repos import positions as position_repo
from coinpilot.testing.fake_coinbase import FakeCoinbase, synthetic_close
from coinpilot.testing.keys import generate_ec_key, generate_ed25519_key
from tests.e2e._production import (
    PRODUCTION,
    StandInOrder,
    cents,
    expected_position,
    finished_orders_have_final_trades,
    orders_match_trades,
    positions_equal_fills,
    production_settings,
    trade_rows,
)
from tests.integration._fakes import enable_trading

D = Decimal
START_USD = D("5000")


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_balance("USD", START_USD)
        server.set_fill_behaviour(delay=0.05, partial_fills=1)
        yield server


def _services(fake: FakeCoinbase, db_url: str, tmp_path: Path, key_kind: str = "ec", **kw: Any) -> Services:
    key = generate_ed25519_key() if key_kind == "ed25519" else generate_ec_key()
    fake.add_key(key.name, key.public_pem)
    key_file = key.write_key_file(tmp_path / f"coinbase-key-{key_kind}.json")
    settings = production_settings(
        home=tmp_path / "home",
        db_url=db_url,
        base_url=fake.base_url,
        cert_path=fake.cert_path,
        key_file=key_file,
        **kw,
    )
    # The fake clock starts at wall time: the stand-in stamps fills with wall time and the
    # cooldown rule compares the last fill with "now".
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    return build_services(settings, clock=clock, migrate=False)


@pytest.fixture
def prod(fake: FakeCoinbase, db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = _services(fake, db_url, tmp_path)
    yield svc
    svc.close()


def _make_bot(svc: Services, pair: str, *, status: BotStatus = BotStatus.RUNNING) -> int:
    now = svc.clock.now()
    with svc.sessions() as s, s.begin():
        bot = Bot(
            name=f"prod-{pair}",
            pair=pair,
            status=status,
            granularity=Granularity.ONE_HOUR,
            signal_config=SignalConfig.default().to_dict(),
            buy_threshold=0.05,
            sell_threshold=0.05,
            confirmation_minutes=5,
            trade_size_usd=D("20"),
            cooldown_minutes=0,
            max_tranches=3,
            created_at=now,
            updated_at=now,
        )
        s.add(bot)
        s.flush()
        return bot.id


def _settle(svc: Services, trade_id: int, timeout: float = 5.0) -> Trade:
    """Run the order sync (advancing the fake clock past each back-off) until the trade is final.

    The stand-in fills by wall time, so this polls briefly between passes."""
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock.advance(11)
        svc.sync.sync_once()
        with svc.sessions() as s:
            t = s.get(Trade, trade_id)
            assert t is not None
            if TradeStatus(t.status).is_final:
                _ = t.fills
                s.expunge(t)
                return t
        time.sleep(0.02)
    raise AssertionError(f"trade {trade_id} not final after {timeout} s")


def _find_buy_hour(svc: Services, bot_id: int) -> None:
    """Move the fake clock to an hour whose synthetic candles score a BUY (read-only search)."""
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    cfg = svc.evaluations.load_config(bot_id)
    for _ in range(200):
        result, _quote, _now = svc.evaluations.fetch_and_score(bot_id, cfg)
        if result.action is Action.BUY:
            return
        clock.advance(3600)
    raise AssertionError("no BUY hour found in 200 hours of synthetic candles")


def _fills_of(fake: FakeCoinbase, coid: str) -> list[tuple[Side, Decimal, Decimal, Decimal, Decimal]]:
    (order,) = fake.orders_for(coid)
    return [(Side(f.side.lower()), f.size, f.price, f.commission, f.value) for f in order.fills]


def test_confirmed_buy_signal_settles_through_the_sdk_with_position_and_pnl_to_the_cent(
    prod: Services, fake: FakeCoinbase, settings: Any
) -> None:
    svc = prod
    fake.set_fill_behaviour(partial_fills=3)
    bot = _make_bot(svc, "BTC-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)

    # bot -> evaluation -> confirmation (5 minutes of an unchanged BUY inside one hourly candle)
    _find_buy_hour(svc, bot)
    first = svc.evaluations.evaluate_bot(bot)
    assert first.evaluation.action is Action.BUY and not first.confirmation.confirmed
    svc.clock.advance(5 * 60 + 1)  # type: ignore[attr-defined]
    ev = svc.evaluations.evaluate_bot(bot)
    assert ev.evaluation.action is Action.BUY and ev.confirmation.confirmed

    # -> safety -> CoinbaseExchange -> stand-in
    result = svc.trades.execute(
        bot,
        Side.BUY,
        quote_size="20.00",
        intent=TradeIntent.ENTRY,
        signal_snapshot=ev.to_dict(),
        confirmation_snapshot=ev.confirmation.to_dict(),
        temperature=ev.temperature.level,
    )
    assert result.allowed and result.trade is not None, result.decision
    assert result.trade.status == "OPEN" and result.trade.order_id
    coid = result.trade.client_order_id
    assert fake.order_count(coid) == 1

    # -> fills -> SETTLED
    buy = _settle(svc, result.trade.id)
    assert buy.status == TradeStatus.SETTLED
    assert [h["status"] for h in buy.status_history] == ["PENDING", "OPEN", "FILLED", "SETTLED"]
    assert buy.signal_snapshot and buy.signal_snapshot["action"] == Action.BUY.value
    assert buy.confirmation_snapshot and buy.confirmation_snapshot["confirmed"] is True

    # Figures from the stand-in's own fills, computed independently of coinpilot's position code.
    (order,) = fake.orders_for(coid)
    assert len(order.fills) == 3  # partial fills
    assert order.filled_value + order.total_fees == D("20.00")  # fee-inclusive quote size, exactly
    buy_fills = _fills_of(fake, coid)
    expected = expected_position(buy_fills)
    assert expected["cost"] == D("20.00")
    assert buy.filled_base_size == expected["base_size"] and buy.fees == order.total_fees
    assert {f.fill_id for f in buy.fills} == {f.entry_id for f in order.fills}

    with svc.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        assert pos is not None
        assert pos.base_size == expected["base_size"]
        assert pos.cost == expected["cost"]
        assert pos.total_fees == expected["total_fees"]
    avg_entry = expected["cost"] / expected["base_size"]

    # The API's view of the same position (mark = best bid from the stand-in).
    from fastapi.testclient import TestClient

    from coinpilot.api.app import create_app

    with TestClient(create_app(svc.settings, svc), base_url="http://127.0.0.1:8000") as client:
        body = client.get(f"/api/v1/bots/{bot}/position").json()
    bid = D("50000.00") - D("0.01")
    assert D(body["base_size"]) == expected["base_size"]
    assert cents(body["avg_entry_price"]) == cents(avg_entry)
    assert D(body["mark"]) == bid
    assert cents(body["unrealized_pnl"]) == cents(expected["base_size"] * bid - D("20.00"))

    # Price rises; sell half, then the rest: realised P&L from the fills, to the cent.
    fake.set_price("BTC-USD", "52000.00")
    half = (expected["base_size"] / 2).quantize(D("0.00000001"))
    sell1 = svc.trades.execute(bot, Side.SELL, base_size=str(half), intent=TradeIntent.MANUAL)
    assert sell1.trade is not None, sell1.decision
    s1 = _settle(svc, sell1.trade.id)
    rest = expected["base_size"] - half
    sell2 = svc.trades.execute(bot, Side.SELL, base_size=str(rest), intent=TradeIntent.MANUAL)
    assert sell2.trade is not None, sell2.decision
    s2 = _settle(svc, sell2.trade.id)

    after_first = expected_position(buy_fills + _fills_of(fake, s1.client_order_id))
    after_all = expected_position(
        buy_fills + _fills_of(fake, s1.client_order_id) + _fills_of(fake, s2.client_order_id)
    )
    assert s1.realized_pnl is not None and s2.realized_pnl is not None
    assert cents(s1.realized_pnl) == cents(after_first["realized_pnl"])
    assert abs(s1.realized_pnl - after_first["realized_pnl"]) < D("1e-12")
    assert cents(s1.realized_pnl + s2.realized_pnl) == cents(after_all["realized_pnl"])
    with svc.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        assert pos is not None
        assert (pos.base_size, pos.cost) == (D(0), D(0))  # closing everything leaves nothing
        assert cents(pos.realized_pnl) == cents(after_all["realized_pnl"])
        assert abs(pos.realized_pnl - after_all["realized_pnl"]) < D("1e-12")
        assert pos.total_fees == after_all["total_fees"]

    # Flat again: realised P&L is exactly the cash the account gained on the stand-in.
    usd_now = fake.balances()["USD"][0]
    assert cents(pos.realized_pnl) == cents(usd_now - START_USD)
    assert fake.balances()["BTC"] == (D(0), D(0))

    orders = [StandInOrder.from_fake(o) for o in fake.all_orders()]
    trades_by = orders_match_trades(orders, trade_rows(svc.sessions), fake.state.create_attempts)
    finished_orders_have_final_trades(orders, trades_by)
    positions_equal_fills(svc.sessions, orders, trades_by)


def test_quote_sized_buy_with_partial_fills_spends_exactly_the_quote_size_incl_fees(
    fake: FakeCoinbase, db_url: str, tmp_path: Path
) -> None:
    """An Ed25519 key this time; an awkward amount split into 4 fills at an ETH price."""
    svc = _services(fake, db_url, tmp_path, key_kind="ed25519")
    try:
        fake.set_fill_behaviour(partial_fills=4)
        fake.set_price("ETH-USD", "3141.59")
        bot = _make_bot(svc, "ETH-USD", status=BotStatus.STOPPED)  # manual trades only
        enable_trading(svc.sessions, svc.clock, PRODUCTION)
        result = svc.trades.execute(bot, Side.BUY, quote_size="23.57")
        assert result.trade is not None, result.decision
        trade = _settle(svc, result.trade.id)
        (order,) = fake.orders_for(trade.client_order_id)
        assert len(order.fills) == 4 and order.status == "FILLED"
        assert order.filled_value + order.total_fees == D("23.57")
        assert trade.filled_value + trade.fees == D("23.57")
        assert len(trade.fills) == 4
        assert sum(f.base_size for f in trade.fills) == order.filled_size
        with svc.sessions() as s:
            pos = position_repo.get_position(s, bot, PRODUCTION)
            assert pos is not None and pos.cost == D("23.57") and pos.base_size == order.filled_size
        assert fake.balances()["USD"][0] == START_USD - D("23.57")
        assert fake.balances()["ETH"][0] == order.filled_size
    finally:
        svc.close()


def test_exchange_rejection_marks_the_trade_failed_and_changes_no_position(
    prod: Services, fake: FakeCoinbase
) -> None:
    bot = _make_bot(prod, "BTC-USD", status=BotStatus.STOPPED)
    enable_trading(prod.sessions, prod.clock, PRODUCTION)
    fake.fail_next_order("INSUFFICIENT_FUND")  # accepted, then FAILED after the fill delay
    result = prod.trades.execute(bot, Side.BUY, quote_size="10")
    assert result.trade is not None
    trade = _settle(prod, result.trade.id)
    assert trade.status == TradeStatus.FAILED and trade.failure_code == "ORDER_FAILED"
    assert "INSUFFICIENT_FUND" in (trade.failure_reason or "")
    with prod.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        assert pos is not None and pos.base_size == 0 and pos.cost == 0
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == 1
    assert fake.balances()["USD"] == (START_USD, D(0))  # the hold was released


# ---- market data through build_services' cached market ------------------------------------------
def test_cached_market_pages_candles_through_the_sdk_and_normalises_them(
    fake: FakeCoinbase, db_url: str, tmp_path: Path
) -> None:
    svc = _services(fake, db_url, tmp_path, candle_cache_ttl_seconds=30)
    try:
        assert isinstance(svc.exchange, CoinbaseExchange)
        start = datetime(2024, 1, 1, tzinfo=UTC)
        end = start + timedelta(hours=1000)
        candles = svc.market.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
        assert fake.request_count("/candles") == 3  # 1000 candles in pages of at most 350
        assert len(candles) == 1000
        assert candles.start[0] == int(start.timestamp())
        assert np.all(np.diff(candles.start) == 3600)  # oldest first, no gaps, no duplicates
        assert candles.close.tolist() == [
            float(synthetic_close(D("50000"), int(t), 3600)) for t in candles.start
        ]
        assert candles.start.dtype == np.int64 and candles.close.dtype == np.float64
        again = svc.market.get_candles("BTC-USD", Granularity.ONE_HOUR, start, end)
        assert fake.request_count("/candles") == 3  # served by the shared cache
        assert again.close.tolist() == candles.close.tolist()
    finally:
        svc.close()


def test_cached_market_best_bid_ask_comes_from_the_stand_in_as_decimals(
    prod: Services, fake: FakeCoinbase
) -> None:
    fake.set_price("ETH-USD", "3100.50", spread="1.00")
    fake.set_price("BTC-USD", "61000.00", spread="0.10")
    books = prod.market.get_best_bid_ask(["BTC-USD", "ETH-USD"])
    assert fake.request_count("/best_bid_ask") == 1  # one batched call for both pairs
    assert (books["ETH-USD"].bid, books["ETH-USD"].ask) == (D("3100.00"), D("3101.00"))
    assert (books["BTC-USD"].bid, books["BTC-USD"].ask) == (D("60999.95"), D("61000.05"))
    assert isinstance(books["BTC-USD"].bid, Decimal)


def test_emergency_stop_cancels_an_open_order_and_keeps_its_partial_fill(
    prod: Services, fake: FakeCoinbase
) -> None:
    """The cancel goes through the SDK's batch_cancel; the fill that happened first is not lost."""
    bot = _make_bot(prod, "BTC-USD", status=BotStatus.STOPPED)
    enable_trading(prod.sessions, prod.clock, PRODUCTION)
    fake.set_fill_behaviour(delay=1.0, partial_fills=2)  # half at 0.5 s, the rest at 1.0 s
    result = prod.trades.execute(bot, Side.BUY, quote_size="20")
    assert result.trade is not None and result.trade.status == "OPEN"
    coid = result.trade.client_order_id
    deadline = time.monotonic() + 5
    while not fake.orders_for(coid)[0].fills:
        assert time.monotonic() < deadline, "the first partial fill never came"
        time.sleep(0.02)

    report = prod.control.engage_emergency("test", "stop now", cancel_open_orders=True)
    assert not report.errors, report.errors
    (order,) = fake.orders_for(coid)
    assert order.status == "CANCELLED" and len(order.fills) == 1
    trade = _settle(prod, result.trade.id)
    assert trade.status == TradeStatus.CANCELLED and trade.position_applied
    assert trade.filled_base_size == order.filled_size > 0
    with prod.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        assert pos is not None
        assert pos.base_size == order.filled_size
        assert pos.cost == order.filled_value + order.total_fees
    usd_available, usd_hold = fake.balances()["USD"]
    assert usd_hold == 0  # the unfilled rest was released
    assert usd_available == START_USD - order.filled_value - order.total_fees
    orders = [StandInOrder.from_fake(o) for o in fake.all_orders()]
    trades_by = orders_match_trades(orders, trade_rows(prod.sessions), fake.state.create_attempts)
    finished_orders_have_final_trades(orders, trades_by)
    positions_equal_fills(prod.sessions, orders, trades_by)


def test_bot_loop_enters_on_a_confirmed_buy_and_takes_profit_through_the_stand_in(
    prod: Services, fake: FakeCoinbase
) -> None:
    """The engine's own cycle (evaluate -> confirm -> decide -> safety -> order), no manual call."""
    from coinpilot.runtime.background import build_engine

    fake.set_fill_behaviour(partial_fills=2)
    bot = _make_bot(prod, "BTC-USD")
    enable_trading(prod.sessions, prod.clock, PRODUCTION)
    handle = build_engine(prod)
    _find_buy_hour(prod, bot)
    first = handle.scheduler.run_cycle([bot])
    assert (first.evaluated, first.orders) == (1, 0)  # BUY seen, not yet confirmed
    prod.clock.advance(5 * 60 + 1)  # type: ignore[attr-defined]
    second = handle.scheduler.run_cycle([bot])
    assert (second.evaluated, second.orders) == (1, 1), second

    with prod.sessions() as s:
        entry = s.scalars(sa.select(Trade)).one()
        entry_id, coid, quote = entry.id, entry.client_order_id, entry.requested_quote_size
    assert entry.intent == TradeIntent.ENTRY and quote is not None
    buy = _settle(prod, entry_id)
    assert buy.status == TradeStatus.SETTLED
    (order,) = fake.orders_for(coid)
    assert order.filled_value + order.total_fees == quote  # the loop's size, spent exactly
    buy_fills = _fills_of(fake, coid)

    # +12 %: the first take-profit rung (+10 %, sell 30 % of what was bought) fires by itself.
    fake.set_price("BTC-USD", "56000.00")
    prod.clock.advance(60)  # type: ignore[attr-defined]
    third = handle.scheduler.run_cycle([bot])
    assert third.orders == 1, third
    with prod.sessions() as s:
        exit_trade = s.scalars(sa.select(Trade).where(Trade.id != entry_id)).one()
        exit_id, exit_coid = exit_trade.id, exit_trade.client_order_id
    assert exit_trade.intent == TradeIntent.TAKE_PROFIT and exit_trade.side == Side.SELL
    assert exit_trade.requested_base_size == (buy.filled_base_size * D("0.3")).quantize(D("0.00000001"))
    sold = _settle(prod, exit_id)
    expected = expected_position(buy_fills + _fills_of(fake, exit_coid))
    assert sold.realized_pnl is not None and sold.realized_pnl > 0
    assert cents(sold.realized_pnl) == cents(expected["realized_pnl"])
    with prod.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        assert pos is not None
        assert pos.base_size == expected["base_size"]
        assert cents(pos.cost) == cents(expected["cost"])
        assert cents(pos.realized_pnl) == cents(expected["realized_pnl"])
    orders = [StandInOrder.from_fake(o) for o in fake.all_orders()]
    trades_by = orders_match_trades(orders, trade_rows(prod.sessions), fake.state.create_attempts)
    finished_orders_have_final_trades(orders, trades_by)
    positions_equal_fills(prod.sessions, orders, trades_by)
