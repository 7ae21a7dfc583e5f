"""Production mode under injected exchange faults: the real SDK and CoinbaseExchange against the
stand-in, driven through TradeService, OrderSync and a mid-run reconciliation ("restart").

For every fault kind the same plan runs on two bots (buy, buy, sell half), the fault re-armed
before every order; afterwards, with the stand-in as witness:

- no duplicate orders (each client_order_id placed at most once, however often it was sent),
- no lost trades (stand-in orders <-> trade rows one to one by client_order_id),
- every trade final once the stand-in has finished its order, with the exchange's figures,
- positions = fills table = stand-in fills, and the safety counters (trades today, exposure,
  positions) equal what was really traded.

Retries are fast: a 0.3 s client timeout, tiny back-off and a no-wait rate limiter passed
through ``CoinbaseExchange.from_settings`` overrides.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.exchange_values import OrderAck, OrderRequest
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety import day_start
from coinpilot.domain.types import Side, TradeStatus
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.reconcile import reconcile_all
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.exchange.ratelimit import TokenBucket
from coinpilot.services import Services, build_services
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.testing.fake_coinbase import FakeCoinbase, Fault
from coinpilot.testing.keys import generate_ec_key
from coinpilot.views.safety_status import safety_status
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
from tests.integration._fakes import enable_trading, make_bot

D = Decimal
CLIENT_TIMEOUT = 0.3
MAX_ATTEMPTS = 3
ORDERS = r"/orders$"
READS = r"/orders/historical"


@dataclass(frozen=True)
class Scenario:
    arm: Callable[[FakeCoinbase], list[Fault]]  # injected before every order
    # The fault makes some create go out twice (the first send created nothing, the sync re-sends).
    # A manual order tries once in the request (issue 10: bounded waits); when that first send
    # did create the order (slow, drop, garbage) the sync finds it by look-up and never sends again.
    retries_creates: bool = False
    once: bool = False  # armed once for the whole run (a standing fault)
    per_step: bool = False  # a timed fault armed at each step's first order creation
    # A create that never reached the exchange may outlive the 30 s re-send bound on the pumped
    # fake clock: it then ends FAILED "not sent: stale", with no order, instead of being re-sent.
    may_go_stale: bool = False


SCENARIOS: dict[str, Scenario] = {
    # 429 with an HTML body and Retry-After on order creation: retried with the same id.
    "429": Scenario(lambda f: [f.inject("429", ORDERS, method="POST", count=2)], True),
    # 500 before the order is processed: retried, created once.
    "500": Scenario(lambda f: [f.inject("500", ORDERS, method="POST", count=1)], True),
    # 503 on every create attempt: the outcome stays unknown (PENDING), the sync replays it.
    "503": Scenario(lambda f: [f.inject("503", ORDERS, method="POST", count=MAX_ATTEMPTS)], True),
    # 503 on order and fill reads: the sync backs off and tries again.
    "503-reads": Scenario(lambda f: [f.inject("503", READS, method="GET", count=4)]),
    # The stand-in sleeps past the client timeout, THEN creates the order: the retry must not
    # create a second one.
    "slow": Scenario(
        lambda f: [f.inject("slow", ORDERS, method="POST", count=1, seconds=CLIENT_TIMEOUT * 2)]
    ),
    # The order is created and the connection dropped before the answer (one attempt in the request).
    "drop": Scenario(lambda f: [f.inject("drop", ORDERS, method="POST", count=1)]),
    # The order is created and the answer is an HTML page.
    "garbage": Scenario(lambda f: [f.inject("garbage", ORDERS, method="POST", count=1)]),
    # Order reads show OPEN with nothing filled for 0.3 s after the fill.
    "stale": Scenario(lambda f: [f.inject("stale", READS, method="GET", count=None, seconds=0.3)], once=True),
    # Everything under /orders answers 503 for 0.4 s from just before the order.
    "outage": Scenario(
        lambda f: [f.inject("outage", r"/orders", count=None, seconds=0.4)],
        True,
        per_step=True,
        may_go_stale=True,
    ),
}


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_balance("USD", "10000")
        server.set_fill_behaviour(delay=0.03, partial_fills=2, style="raw")  # the live API's 16 decimals
        yield server


@pytest.fixture
def svc(fake: FakeCoinbase, db_url: str, tmp_path: Path) -> Iterator[Services]:
    key = generate_ec_key()
    fake.add_key(key.name, key.public_pem)
    settings = production_settings(
        home=tmp_path / "home",
        db_url=db_url,
        base_url=fake.base_url,
        cert_path=fake.cert_path,
        key_file=key.write_key_file(tmp_path / "key.json"),
        coinbase_timeout_seconds=CLIENT_TIMEOUT,
    )
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))

    def short_sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.01))

    exchange = CoinbaseExchange.from_settings(
        settings,
        clock=clock,
        sleep=short_sleep,
        max_attempts=MAX_ATTEMPTS,
        backoff_base=0.005,
        backoff_max=0.02,
        jitter=lambda: 0.5,
        limiter=TokenBucket(1000.0),
    )
    services = build_services(settings, clock=clock, market=exchange, exchange=exchange, migrate=False)
    yield services
    services.close()


def _pump(svc: Services, fake: FakeCoinbase, timeout: float = 6.0) -> None:
    """Sync passes (fake clock past every back-off) until every trade and stand-in order is final."""
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock.advance(11)
        svc.sync.sync_once()
        with svc.sessions() as s:
            open_trades = trade_repo.non_final_ids(s, PRODUCTION)
        if not open_trades and all(o.status != "OPEN" for o in fake.all_orders()):
            return
        time.sleep(0.02)
    raise AssertionError(f"trades {open_trades} still not final after {timeout} s")


def _half_position(svc: Services, bot: int, *, may_be_flat: bool = False) -> str | None:
    with svc.sessions() as s:
        pos = position_repo.get_position(s, bot, PRODUCTION)
        if may_be_flat and (pos is None or pos.base_size == 0):
            return None
        assert pos is not None and pos.base_size > 0
        return str((pos.base_size / 2).quantize(D("0.00000001")))


def _bot_fills(
    fake: FakeCoinbase, trades: list, bot: int
) -> list[tuple[Side, Decimal, Decimal, Decimal, Decimal]]:
    fills = []
    for t in sorted((t for t in trades if t.bot_id == bot), key=lambda t: t.id):
        for o in fake.orders_for(t.client_order_id):
            fills += [(Side(f.side.lower()), f.size, f.price, f.commission, f.value) for f in o.fills]
    return fills


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_fault_loses_no_trade_and_duplicates_no_order(kind: str, svc: Services, fake: FakeCoinbase) -> None:
    scenario = SCENARIOS[kind]
    bots = [make_bot(svc.sessions, svc.clock, "BTC-USD"), make_bot(svc.sessions, svc.clock, "ETH-USD")]
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    faults: list[Fault] = []
    placed = 0
    armed = [False]
    if scenario.per_step:  # arm just before the create goes out, however slow the machine is
        place = svc.exchange.place_market_order

        def arm_then_place(request: OrderRequest) -> OrderAck:
            if not armed[0]:
                armed[0] = True
                faults.extend(scenario.arm(fake))
            return place(request)

        svc.exchange.place_market_order = arm_then_place  # type: ignore[method-assign]
    for step in range(3):
        armed[0] = False
        for bot in bots:
            if not scenario.per_step and not (scenario.once and faults):
                faults += scenario.arm(fake)
            if step < 2:
                result = svc.trades.execute(bot, Side.BUY, quote_size=("10" if step == 0 else "12.34"))
            else:
                half = _half_position(svc, bot, may_be_flat=scenario.may_go_stale)
                if half is None:  # both buys went stale unsent: nothing to sell
                    continue
                result = svc.trades.execute(bot, Side.SELL, base_size=half)
            assert result.trade is not None, f"step {step} bot {bot}: {result.decision}"
            placed += 1
        if step == 1:  # a "restart": a fresh reconciliation while orders are in flight
            reconcile_all(svc.sessions, svc.exchange, svc.clock, PRODUCTION)
        _pump(svc, fake)
    assert all(f.fired > 0 for f in faults), f"some injected faults never fired: {faults}"

    fake.clear_faults()
    _pump(svc, fake)
    orders = [StandInOrder.from_fake(o) for o in fake.all_orders()]
    trades = trade_rows(svc.sessions)
    attempts = dict(fake.state.create_attempts)

    # no duplicate orders, no lost trades, everything final with the exchange's figures
    not_sent = [t for t in trades if t.status == TradeStatus.FAILED and t.order_id is None]
    assert scenario.may_go_stale or not not_sent
    assert not any(fake.orders_for(t.client_order_id) for t in not_sent)
    sent = [t for t in trades if t not in not_sent]
    assert len(trades) == placed and len(sent) == len(orders)
    trades_by = orders_match_trades(orders, sent, attempts)
    finished_orders_have_final_trades(orders, trades_by)
    assert all(t.status == TradeStatus.SETTLED for t in sent)
    if scenario.retries_creates:  # the same client_order_id really was sent more than once
        assert fake.request_count("/orders", method="POST") > len(orders), "no create was resent"

    # positions = fills table = stand-in fills; exposure and counters = what was really traded
    positions = positions_equal_fills(svc.sessions, orders, trades_by)
    status = safety_status(svc.control, svc.trades.limits)
    today = day_start(svc.clock.now())
    assert status["today"]["trades"] == sum(
        1 for o in orders if trades_by[o.client_order_id].created_at >= today
    )
    assert D(status["exposure"]["in_flight_buys"]) == 0
    expected_cost = D(0)
    for bot in bots:
        exp = expected_position(_bot_fills(fake, trades, bot))
        row = next(b for b in status["bots"] if b["bot_id"] == bot)
        assert D(row["position_base"]) == exp["base_size"] == positions[bot]
        assert cents(row["position_cost"]) == cents(exp["cost"])
        expected_cost += exp["cost"]
    assert cents(status["exposure"]["positions_cost"]) == cents(expected_cost)
    assert cents(status["exposure"]["total"]) == cents(expected_cost)
    # the account on the stand-in holds exactly what the positions say
    balances = fake.balances()
    assert balances["BTC"][0] == positions[bots[0]] and balances["ETH"][0] == positions[bots[1]]


def test_base_sized_buy_with_unknown_outcome_still_counts_as_exposure(
    svc: Services, fake: FakeCoinbase
) -> None:
    """Regression: an in-flight base-sized buy (no fill price yet) used to add nothing to exposure,
    so while its outcome was unknown other buys could pass the exposure limit."""
    limits = SafetyLimits(
        cooldown_minutes=0,
        min_reserved_balance_usd=D(0),
        max_position_usd_per_bot=D(25),
        max_total_exposure_usd=D(30),
    )
    trades = TradeService(svc.sessions, svc.exchange, svc.clock, PRODUCTION, limits)
    btc, eth = make_bot(svc.sessions, svc.clock, "BTC-USD"), make_bot(svc.sessions, svc.clock, "ETH-USD")
    enable_trading(svc.sessions, svc.clock, PRODUCTION)
    fake.inject("503", ORDERS, method="POST", count=MAX_ATTEMPTS)
    first = trades.execute(btc, Side.BUY, base_size="0.0004")  # about $20 at the ask
    assert first.trade is not None and first.trade.status == "PENDING"  # outcome unknown
    ask = D("50000.01")
    status = safety_status(svc.control, limits)
    assert D(status["exposure"]["in_flight_buys"]) == D("0.0004") * ask

    second = trades.execute(eth, Side.BUY, quote_size="15")  # 20 + 15 > 30
    assert second.trade is None
    assert "MAX_EXPOSURE" in {r["code"] for r in second.decision["reasons"]}
    assert fake.order_count(first.trade.client_order_id) == 0  # nothing reached the exchange yet
