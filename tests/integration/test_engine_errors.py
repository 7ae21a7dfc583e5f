"""Failures in the bot loop stay with the bot that failed; exchange outages trip the breaker;
exchange calls per cycle grow with pairs, not bots."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.types import BotStatus, TradeIntent
from coinpilot.engine.loop.failures import MAX_ERRORS_BEFORE_ERROR_STATUS
from coinpilot.engine.loop.runner import PeriodicRunner
from coinpilot.exchange.base import ProductNotFound
from coinpilot.exchange.market_cache import CachedMarketData
from coinpilot.store.models import Bot, BotRuntime, ControlEvent, Evaluation, Trade
from tests.integration._engine import INTERVAL, add_bot, make_rig, unavailable
from tests.integration._fakes import TEST_LIMITS, enable_trading

D = Decimal
NO_EXITS = {"take_profit_ladder": [], "stop_loss_pct": None, "dca_step_pct": "0"}


def _runtime(sf, bot_id):
    with sf() as s:
        bot = s.get(Bot, bot_id)
        return bot.status, s.get(BotRuntime, bot_id)


def _evaluations(sf, bot_id):
    with sf() as s:
        return s.scalar(sa.select(sa.func.count(Evaluation.id)).where(Evaluation.bot_id == bot_id))


def test_a_bot_with_bad_market_data_is_marked_and_backs_off_while_the_others_trade(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    good = add_bot(sf, clock, "ETH-USD", strategy=NO_EXITS, confirmation_minutes=0)
    bad = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set("ETH-USD", "100", "buy")
    rig.market.set("BTC-USD", "100", "buy")
    rig.market.broken["BTC-USD"] = ProductNotFound("no candles for BTC-USD", code="INVALID_PRODUCT_ID")

    failed_at = clock.now()
    rig.tick()
    status, rt = _runtime(sf, bad)
    assert status == BotStatus.RUNNING and rt.consecutive_errors == 1
    assert "no candles for BTC-USD" in rt.last_error
    assert (rt.next_evaluation_at - failed_at).total_seconds() == 2 * INTERVAL  # backed off
    with sf() as s:
        assert [t.bot_id for t in s.scalars(sa.select(Trade))] == [good]
    assert _evaluations(sf, good) == 1 and _evaluations(sf, bad) == 0


def test_repeated_failures_put_only_the_failing_bot_in_error(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    good = add_bot(sf, clock, "ETH-USD", strategy=NO_EXITS)
    bad = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS)
    rig.market.set("ETH-USD", "100", "hold")
    rig.market.set("BTC-USD", "100", "hold")
    rig.market.broken["BTC-USD"] = ValueError("corrupt candle data")
    for _ in range(MAX_ERRORS_BEFORE_ERROR_STATUS):
        rig.scheduler.run_cycle([good, bad])  # forced: ignore the back-off
        clock.advance(INTERVAL)
    bad_status, bad_rt = _runtime(sf, bad)
    good_status, good_rt = _runtime(sf, good)
    assert bad_status == BotStatus.ERROR and bad_rt.consecutive_errors == MAX_ERRORS_BEFORE_ERROR_STATUS
    assert good_status == BotStatus.RUNNING and good_rt.last_error is None
    assert _evaluations(sf, good) == MAX_ERRORS_BEFORE_ERROR_STATUS


def test_a_rejected_order_of_one_bot_does_not_stop_another_bots_order(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    first = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS, confirmation_minutes=0)
    second = add_bot(sf, clock, "ETH-USD", strategy=NO_EXITS, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set("BTC-USD", "100", "buy")
    rig.market.set("ETH-USD", "100", "buy")
    rig.exchange.create_faults = ["reject", "ok"]
    rig.tick()
    with sf() as s:
        rows = {t.bot_id: t for t in s.scalars(sa.select(Trade))}
    assert rows[first].status.value == "FAILED" and "not enough USD" in rows[first].failure_reason
    assert rows[second].status.value == "SETTLED" and rows[second].intent == TradeIntent.ENTRY


def test_a_crashing_cycle_does_not_stop_the_loop():
    calls = []

    def job():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    runner = PeriodicRunner("t", job, 0.0)
    runner.start()
    import time

    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    assert len(calls) >= 3 and runner.failures == 1


def test_one_failed_cycle_over_five_pairs_is_one_breaker_failure(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=2)
    pairs = [f"C{i}-USD" for i in range(5)]
    for p in pairs:
        add_bot(sf, clock, p, strategy=NO_EXITS)
        rig.market.set(p, "100", "hold")
        rig.market.broken[p] = unavailable(f"{p} candles")
    enable_trading(sf, clock)
    rig.tick()  # a few seconds of 503s: every pair of this cycle fails
    assert rig.breaker.recent_failures() == 1
    assert rig.tripped == [] and rig.control.state()["state"] == "ACTIVE"


def test_repeated_failed_cycles_move_trading_to_reducing_and_say_why(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=3)
    pairs = ["BTC-USD", "ETH-USD", "SOL-USD"]
    bots = [add_bot(sf, clock, p, strategy=NO_EXITS, confirmation_minutes=0) for p in pairs]
    enable_trading(sf, clock)
    for p in pairs:
        rig.market.set(p, "100", "buy")
    rig.market.broken["BTC-USD"] = unavailable("BTC candles")
    rig.market.broken["ETH-USD"] = unavailable("ETH candles")
    rig.tick()  # one failed cycle (two pairs): SOL still trades
    rig.scheduler.run_cycle(bots[:1])  # the second
    assert rig.tripped == [] and rig.control.state()["state"] == "ACTIVE"
    rig.scheduler.run_cycle(bots[:1])  # the third failed cycle within the window
    assert len(rig.tripped) == 1
    state = rig.control.state()
    assert (state["state"], state["by"]) == ("REDUCING", "exchange_breaker")
    assert "exchange breaker: 3 failed cycles" in state["reason"]
    assert "BTC candles timed out" in state["reason"]
    # REDUCING: the engine places no new entry.
    del rig.market.broken["BTC-USD"]
    with sf() as s:
        before = s.scalar(sa.select(sa.func.count(Trade.id)))
    rig.scheduler.run_cycle(bots)
    with sf() as s:
        assert s.scalar(sa.select(sa.func.count(Trade.id))) == before


def test_the_exchange_breaker_returns_to_active_after_the_quiet_period_and_says_so(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=1, recover_after_seconds=600)
    bot = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS)
    rig.market.set("BTC-USD", "100", "hold")
    enable_trading(sf, clock)
    rig.market.broken["BTC-USD"] = unavailable("BTC candles")
    rig.scheduler.run_cycle([bot])
    assert rig.control.state()["state"] == "REDUCING"
    del rig.market.broken["BTC-USD"]
    clock.advance(300)
    rig.scheduler.run_cycle([bot])  # answering normally, but not for long enough
    assert rig.control.state()["state"] == "REDUCING"
    clock.advance(301)
    rig.scheduler.run_cycle([bot])
    state = rig.control.state()
    assert (state["state"], state["by"]) == ("ACTIVE", "exchange_breaker")
    assert "answered normally" in state["reason"]
    with sf() as s:
        actions = [e.action for e in s.scalars(sa.select(ControlEvent).order_by(ControlEvent.id))]
    assert actions == ["state_reducing", "state_active"]


def test_failures_spread_over_more_than_the_window_do_not_trip_the_breaker(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, breaker_threshold=3)
    bot = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS)
    rig.market.set("BTC-USD", "100", "hold")
    rig.market.broken["BTC-USD"] = unavailable()
    for _ in range(4):
        clock.advance(601)  # the window is 600 s
        rig.scheduler.run_cycle([bot])
    assert rig.tripped == [] and rig.breaker.recent_failures() == 1


def test_exchange_calls_per_cycle_are_one_candle_fetch_per_pair_and_one_quote_call(session_factory, clock):
    """Bots are one per pair; a cycle over six bots makes six candle calls (one per pair) and
    ONE quote call for all of them, where the per-bot path makes one quote call per bot. Within
    the cache TTL and the same candle, the next cycle fetches no candles at all."""
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    cached = CachedMarketData(rig.market, clock, ttl_seconds=30, quote_ttl_seconds=1)
    rig.scheduler._market = cached  # the engine's shared cache in front of the scripted market
    pairs = [f"C{i}-USD" for i in range(6)]
    for p in pairs:
        rig.market.set(p, "100", "hold")
    ids = [add_bot(sf, clock, p) for p in pairs]
    clock.advance(1)  # off the hour boundary: both cycles see the same closed candles
    rig.scheduler.run_cycle(ids)
    assert cached.calls.counts["get_candles"] == len(pairs)
    assert cached.calls.counts["get_best_bid_ask"] == 1
    clock.advance(10)
    rig.scheduler.run_cycle(ids)
    assert cached.calls.counts["get_candles"] == len(pairs)  # served from the shared cache
    assert cached.calls.counts["get_best_bid_ask"] == 2
    # The reference: evaluating each bot on its own asks for a quote per bot.
    before = rig.market.calls.counts["get_best_bid_ask"]
    for b in ids:
        rig.scheduler._evals.evaluate_bot(b)
    assert rig.market.calls.counts["get_best_bid_ask"] - before == len(ids)


def test_position_drift_is_reported_on_the_bot_and_can_pause_it(session_factory, clock):
    from coinpilot.domain.types import TradingMode
    from coinpilot.engine.risk.drift import DriftMonitor

    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = add_bot(sf, clock, "BTC-USD", strategy=NO_EXITS, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set("BTC-USD", "100", "buy")
    rig.tick()
    monitor = DriftMonitor(sf, rig.exchange, clock, TradingMode.MOCK, pause_on_drift=True)
    assert monitor.check() == []  # the paper balance matches the position
    assert _runtime(sf, bot)[0] == BotStatus.RUNNING
    rig.exchange.balances["BTC"] = rig.exchange.balances["BTC"] / 2  # coins gone from the account
    findings = monitor.check()
    assert [f.bot_ids for f in findings] == [(bot,)]
    with sf() as s:
        b = s.get(Bot, bot)
        assert b.status == BotStatus.PAUSED
        assert b.status_reason.startswith("position drift: the bots' BTC positions total")
