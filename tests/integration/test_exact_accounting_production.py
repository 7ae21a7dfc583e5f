"""Issue 10 acceptance, in production mode: the real SDK and CoinbaseExchange against the stand-in,
which rounds like Coinbase ("rounded": cents and base increments; "raw": 16-decimal values).

- six odd quote-sized buys, then a 10% drop: the stop-loss is placed, fills, and the account's
  base balance ends at zero (rounded) / at the recorded dust (raw);
- four buy / sell-everything cycles of a 3-tranche bot: flat after each, the fourth entry accepted;
- a full exit asked for more than the account holds sells what it holds and reports the drift.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from coinpilot.config import LimitsConfig
from coinpilot.domain.clock import FakeClock
from coinpilot.domain.position import PositionState
from coinpilot.domain.strategy import StrategyConfig, exit_decision
from coinpilot.domain.types import PositionStatus, Side, TradeIntent, TradeStatus, quantize_down
from coinpilot.exchange.base import ExchangeError
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.exchange.ratelimit import TokenBucket
from coinpilot.services import Services, build_services
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.testing.fake_coinbase import FakeCoinbase
from coinpilot.testing.keys import generate_ec_key
from tests.e2e._production import PRODUCTION, production_settings
from tests.integration._fakes import enable_trading, make_bot

D = Decimal
SAT = D("0.00000001")
ODD_BUYS = ["9.94", "11.37", "13.01", "9.99", "10.53", "12.77"]


@pytest.fixture(params=["rounded", "raw"])
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(style: str) -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_balance("USD", "10000")
        server.set_price("BTC-USD", "43211.17")
        server.set_fill_behaviour(delay=0.0, partial_fills=2, style=style)
        yield server


@pytest.fixture
def svc(fake: FakeCoinbase, db_url: str, tmp_path: Path) -> Iterator[Services]:
    key = generate_ec_key()
    fake.add_key(key.name, key.public_pem)
    limits = LimitsConfig(
        cooldown_minutes=0, min_reserved_balance_usd=D(0), max_tranches=6, max_daily_trades_per_bot=20
    )
    settings = production_settings(
        home=tmp_path / "home",
        db_url=db_url,
        base_url=fake.base_url,
        cert_path=fake.cert_path,
        key_file=key.write_key_file(tmp_path / "key.json"),
        limits=limits,
    )
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    exchange = CoinbaseExchange.from_settings(settings, clock=clock, limiter=TokenBucket(1000.0))
    services = build_services(settings, clock=clock, market=exchange, exchange=exchange, migrate=False)
    yield services
    services.close()


def _settle(svc: Services, timeout: float = 5.0) -> None:
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock.advance(11)
        svc.sync.sync_once()
        with svc.sessions() as s:
            if not trade_repo.non_final_ids(s, PRODUCTION):
                return
        time.sleep(0.01)
    raise AssertionError("trades still not final")


def _position(svc: Services, bot: int) -> tuple[PositionState, PositionStatus]:
    with svc.sessions() as s:
        row = position_repo.get_position(s, bot, PRODUCTION)
        assert row is not None
        return position_repo.to_state(row), PositionStatus(row.status)


def _buy(svc: Services, bot: int, quote: str) -> None:
    result = svc.trades.execute(bot, Side.BUY, quote_size=quote)
    assert result.trade is not None, result.decision
    _settle(svc)


def test_six_odd_quote_buys_then_a_drop_the_stop_loss_sells_everything(
    svc: Services, fake: FakeCoinbase, style: str
) -> None:
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD", max_tranches=6)
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    for quote in ODD_BUYS:
        _buy(svc, bot, quote)
        pos, _ = _position(svc, bot)
        assert pos.base_size == fake.balances()["BTC"][0]  # to the last decimal, after every buy

    fake.set_price("BTC-USD", "38890.05")  # 10% down; a 5% stop
    pos, _ = _position(svc, bot)
    product = svc.exchange.get_product("BTC-USD")
    cfg = StrategyConfig.from_dict({"stop_loss_pct": "5"})
    bid = svc.exchange.get_best_bid_ask(["BTC-USD"])["BTC-USD"].bid
    stop = exit_decision(
        cfg,
        pos,
        bid,
        None,
        frozenset(),
        False,
        product.base_increment,
        base_min_size=product.base_min_size,
        quote_min_size=product.quote_min_size,
    )
    assert stop is not None and stop.intent is TradeIntent.STOP_LOSS
    result = svc.trades.execute(bot, Side.SELL, base_size=stop.base_size, intent=stop.intent)
    assert result.trade is not None, result.decision  # not refused INSUFFICIENT_BASE
    _settle(svc)
    trade = svc.trades.get_trade(result.trade.id)
    assert trade is not None and trade.status == TradeStatus.SETTLED.value

    pos, status = _position(svc, bot)
    held = fake.balances()["BTC"][0]
    assert pos.is_flat and status is PositionStatus.FLAT and pos.tranches == ()
    assert pos.dust_base_size == held  # the only thing left is the recorded dust
    if style == "rounded":
        assert held == 0
    # realised P&L = the cash actually received minus what was paid, exactly
    assert pos.realized_pnl == fake.balances()["USD"][0] - D("10000")


def test_four_buy_and_sell_everything_cycles_end_flat_and_the_fourth_entry_is_accepted(
    svc: Services, fake: FakeCoinbase
) -> None:
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD", max_tranches=3)
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    for cycle, quote in enumerate(["10.37", "12.11", "9.73", "11.59"]):
        result = svc.trades.execute(bot, Side.BUY, quote_size=quote, intent=TradeIntent.ENTRY)
        assert result.trade is not None, f"entry {cycle + 1} refused: {result.decision}"
        _settle(svc)
        pos, _ = _position(svc, bot)
        fake.set_price("BTC-USD", D("43211.17") * D("1.02") ** (cycle + 1))  # winners: no loss streak
        everything = quantize_down(pos.base_size, SAT)
        sell = svc.trades.execute(bot, Side.SELL, base_size=everything, intent=TradeIntent.SIGNAL_EXIT)
        assert sell.trade is not None, sell.decision
        _settle(svc)
        pos, status = _position(svc, bot)
        assert pos.is_flat and status is PositionStatus.FLAT and pos.tranches == ()
        assert pos.dust_base_size == fake.balances()["BTC"][0]


def test_full_exit_sells_what_the_account_holds_when_it_holds_a_little_less(
    svc: Services, fake: FakeCoinbase
) -> None:
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    _buy(svc, bot, "20.00")
    pos, _ = _position(svc, bot)
    held = fake.balances()["BTC"][0]
    fake.set_balance("BTC", held - SAT / 2)  # the account holds half an increment less
    everything = quantize_down(pos.base_size, SAT)
    result = svc.trades.execute(bot, Side.SELL, base_size=everything, intent=TradeIntent.STOP_LOSS)
    assert result.trade is not None, result.decision
    assert result.trade.requested_base_size is not None
    assert D(result.trade.requested_base_size) == quantize_down(held - SAT / 2, SAT)


def test_full_exit_reports_larger_drift_and_still_sells_what_is_held(
    svc: Services, fake: FakeCoinbase
) -> None:
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    _buy(svc, bot, "20.00")
    pos, _ = _position(svc, bot)
    held = fake.balances()["BTC"][0] - 3 * SAT  # something outside Coinpilot sold a little
    fake.set_balance("BTC", held)
    everything = quantize_down(pos.base_size, SAT)
    result = svc.trades.execute(bot, Side.SELL, base_size=everything, intent=TradeIntent.TRAILING_STOP)
    assert result.trade is not None, result.decision  # the stop is not refused
    assert result.trade.requested_base_size is not None
    assert D(result.trade.requested_base_size) == quantize_down(held, SAT)
    assert "drift" in result.decision and str(everything) in result.decision["drift"]


# ---- bounded waits ---------------------------------------------------------------------------------
def test_manual_trade_on_a_hanging_exchange_answers_within_one_timeout_and_says_what_happens_next(
    svc: Services, fake: FakeCoinbase
) -> None:
    timeout = svc.settings.coinbase_timeout_seconds
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    svc.exchange.get_product("BTC-USD")  # warm: the product read is cached
    fault = fake.inject("slow", r"/orders$", method="POST", count=None, seconds=timeout * 1.5)
    started = time.monotonic()
    result = svc.trades.execute(bot, Side.BUY, quote_size="10")
    elapsed = time.monotonic() - started
    assert result.trade is not None and result.trade.status == TradeStatus.PENDING.value
    assert elapsed < timeout * 1.9, f"answered after {elapsed:.1f} s (timeout {timeout} s)"
    assert fault.fired == 1  # one attempt in the request
    assert result.next_step is not None and "background" in result.next_step
    assert "PENDING" in result.to_dict()["next_step"]
    fake.clear_faults()
    _settle(svc)  # the later attempts run in the background (order sync), same client_order_id
    (order,) = fake.orders_for(result.trade.client_order_id)
    assert order.status == "FILLED"


def test_exit_leaving_less_than_the_minimum_closes_the_cycle_as_dust(
    svc: Services, fake: FakeCoinbase
) -> None:
    bot = make_bot(svc.sessions, svc.clock, "SOL-USD")  # 0.0001 increment, 0.001 minimum
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    _buy(svc, bot, "20.00")
    pos, _ = _position(svc, bot)
    leave = D("0.0005")  # below the 0.001 minimum: can never be sold
    sell = svc.trades.execute(bot, Side.SELL, base_size=pos.base_size - leave, intent=TradeIntent.MANUAL)
    assert sell.trade is not None, sell.decision
    _settle(svc)
    after, status = _position(svc, bot)
    assert after.is_flat and status is PositionStatus.FLAT and after.tranches == ()
    assert after.dust_base_size == fake.balances()["SOL"][0] >= leave
    assert after.dust_value > 0
    again = svc.trades.execute(bot, Side.BUY, quote_size="10", intent=TradeIntent.ENTRY)
    assert again.trade is not None, again.decision  # a new cycle starts


@pytest.mark.parametrize("read", [r"/best_bid_ask", r"/accounts"])
def test_manual_trade_with_a_hanging_read_answers_within_one_timeout_and_sends_nothing(
    read: str, svc: Services, fake: FakeCoinbase
) -> None:
    """The reads a manual order makes before its row (quote, balances) try once as well: a person
    waiting gets an answer within about one client timeout, not four, and nothing is sent."""
    timeout = svc.settings.coinbase_timeout_seconds
    bot = make_bot(svc.sessions, svc.clock, "BTC-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    svc.exchange.get_product("BTC-USD")  # warm: the product read is cached
    fault = fake.inject("slow", read, method="GET", count=None, seconds=timeout * 1.5)
    started = time.monotonic()
    try:
        result = svc.trades.execute(bot, Side.BUY, quote_size="10")
        assert result.trade is None, result.decision
    except ExchangeError:
        pass  # the read's failure, mapped to what the person should do
    elapsed = time.monotonic() - started
    assert elapsed < timeout * 1.9, f"answered after {elapsed:.1f} s (timeout {timeout} s)"
    assert fault.fired == 1  # one attempt in the request
    fake.clear_faults()
    assert fake.all_orders() == []
