"""Alerts through Apprise to a local JSON receiver: every trigger, de-duplication, rate limit,
retries, and a hanging receiver that must not slow an order."""

from __future__ import annotations

import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from coinpilot.alerts.dispatch import Alert, AlertDispatcher, apprise_sender
from coinpilot.alerts.watch import AlertWatcher
from coinpilot.domain.types import BotStatus, Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.risk.control import ControlService
from coinpilot.store.models import Bot, Trade
from coinpilot.store.repos import control as control_repo
from coinpilot.testing.alert_receiver import AlertReceiver
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot

D = Decimal


@pytest.fixture
def receiver():
    r = AlertReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def dispatcher(receiver, clock):
    d = AlertDispatcher(apprise_sender([receiver.url]), clock, backoff_seconds=0.05).start()
    yield d
    d.stop()


@pytest.fixture
def watcher(session_factory, clock, dispatcher):
    w = AlertWatcher(
        session_factory, clock, TradingMode.MOCK, dispatcher, daily_loss_limit=D(50), attention_minutes=10
    )
    w.check()  # the first check only marks where history ends
    return w


def _delivered(dispatcher, receiver) -> list[str]:
    assert dispatcher.wait_idle(10)
    return receiver.titles()


def _trade(session_factory, clock, bot_id, *, status, **kw) -> int:
    now = clock.now()
    values = {
        "bot_id": bot_id,
        "mode": TradingMode.MOCK,
        "side": Side.BUY,
        "intent": TradeIntent.MANUAL,
        "pair": "BTC-USD",
        "client_order_id": f"c-{time.monotonic_ns()}",
        "status": status,
        "requested_quote_size": D(10),
        "status_history": [],
        "created_at": now,
        "updated_at": now,
        **kw,
    }
    with session_factory() as s, s.begin():
        t = Trade(**values)
        s.add(t)
        s.flush()
        return t.id


def test_an_order_failure_is_alerted_once_per_bot_and_cause(
    session_factory, clock, watcher, dispatcher, receiver
):
    bot = make_bot(session_factory, clock)
    for _ in range(3):  # an outage failing the same bot again and again
        _trade(
            session_factory,
            clock,
            bot,
            status=TradeStatus.FAILED,
            failure_code="INSUFFICIENT_FUND",
            failure_reason="not enough USD",
            closed_at=clock.now(),
        )
    clock.advance(1)
    watcher.check()
    watcher.check()
    assert _delivered(dispatcher, receiver) == ["Coinpilot: buy order failed on BTC-USD"]
    assert "INSUFFICIENT_FUND" in receiver.received[0]["message"]
    assert dispatcher.stats.duplicates >= 2


def test_a_trading_state_change_by_a_person_or_a_breaker_is_alerted(
    session_factory, clock, watcher, dispatcher, receiver
):
    control = ControlService(session_factory, clock, TradingMode.MOCK)
    control.activate(actor="alice", reason="morning")
    assert control.breaker_trip("exchange_breaker", "5 exchange failures within 60 s")
    control.halt(actor="bob", reason="going on holiday")
    watcher.check()
    watcher.check()
    titles = _delivered(dispatcher, receiver)
    assert titles == [
        "Coinpilot: state active (mock)",
        "Coinpilot: state reducing (mock)",
        "Coinpilot: state halted (mock)",
    ]
    messages = [m["message"] for m in receiver.received]
    assert "by alice" in messages[0]
    assert "by a breaker" in messages[1] and "5 exchange failures" in messages[1]
    assert "by bob" in messages[2] and "going on holiday" in messages[2]


def test_audit_only_events_are_not_alerted(session_factory, clock, watcher, dispatcher, receiver):
    with session_factory() as s, s.begin():
        control_repo.record_event(
            s, at=clock.now(), action="bot_updated", actor="alice", mode=TradingMode.MOCK
        )
    watcher.check()
    assert _delivered(dispatcher, receiver) == []


def test_daily_loss_is_alerted_at_50_80_and_100_percent_each_once(
    session_factory, clock, watcher, dispatcher, receiver
):
    bot = make_bot(session_factory, clock)

    def lose(amount: str) -> None:
        _trade(
            session_factory,
            clock,
            bot,
            status=TradeStatus.SETTLED,
            side=Side.SELL,
            realized_pnl=-D(amount),
            realized_at=clock.now(),
        )

    lose("20")  # 40%: nothing
    watcher.check()
    lose("6")  # 52%
    watcher.check()
    watcher.check()
    lose("15")  # 82%
    watcher.check()
    lose("10")  # 102%
    watcher.check()
    watcher.check()
    assert _delivered(dispatcher, receiver) == [
        "Coinpilot: 50% of the daily loss limit (mock)",
        "Coinpilot: 80% of the daily loss limit (mock)",
        "Coinpilot: 100% of the daily loss limit (mock)",
    ]


def test_position_drift_and_a_bot_in_error_are_alerted_once(
    session_factory, clock, watcher, dispatcher, receiver
):
    drifting = make_bot(session_factory, clock)
    broken = make_bot(session_factory, clock, "ETH-USD")
    with session_factory() as s, s.begin():
        s.execute(
            sa.update(Bot)
            .where(Bot.id == drifting)
            .values(
                status_reason="position drift: the bots' BTC positions total 0.5 but the exchange holds 0.4"
            )
        )
        s.execute(sa.update(Bot).where(Bot.id == broken).values(status=BotStatus.ERROR, status_reason="boom"))
    watcher.check()
    watcher.check()
    titles = _delivered(dispatcher, receiver)
    assert sorted(titles) == sorted(
        [
            f"Coinpilot: position drift on {_name(session_factory, drifting)}",
            f"Coinpilot: bot {_name(session_factory, broken)} is in ERROR",
        ]
    )


def _name(session_factory, bot_id: int) -> str:
    with session_factory() as s:
        return s.get(Bot, bot_id).name


def test_a_trade_unfinished_too_long_needs_attention(session_factory, clock, watcher, dispatcher, receiver):
    bot = make_bot(session_factory, clock)
    trade = _trade(session_factory, clock, bot, status=TradeStatus.OPEN, last_error="timeout")
    clock.advance(9 * 60)
    watcher.check()
    assert _delivered(dispatcher, receiver) == []
    clock.advance(2 * 60)
    watcher.check()
    watcher.check()
    assert _delivered(dispatcher, receiver) == [f"Coinpilot: trade {trade} needs attention"]


def test_a_trade_the_order_sync_marked_needs_attention_at_once(
    session_factory, clock, watcher, dispatcher, receiver
):
    bot = make_bot(session_factory, clock)
    trade = _trade(
        session_factory, clock, bot, status=TradeStatus.PENDING, attention_reason="order unknown for 5 min"
    )
    watcher.check()
    watcher.check()
    assert _delivered(dispatcher, receiver) == [f"Coinpilot: trade {trade} needs attention"]
    assert "order unknown for 5 min" in receiver.received[0]["message"]


def test_the_exchange_unreachable_longer_than_n_minutes_is_alerted_once(
    session_factory, clock, dispatcher, receiver
):
    up = {"ok": False}

    def probe() -> None:
        if not up["ok"]:
            raise ConnectionError("connection refused")

    w = AlertWatcher(
        session_factory,
        clock,
        TradingMode.MOCK,
        dispatcher,
        daily_loss_limit=D(50),
        probe=probe,
        unreachable_minutes=5,
    )
    w.check()
    clock.advance(4 * 60)
    w.check()
    assert _delivered(dispatcher, receiver) == []
    clock.advance(2 * 60)
    w.check()
    clock.advance(60)
    w.check()
    assert _delivered(dispatcher, receiver) == ["Coinpilot: the exchange is unreachable"]
    up["ok"] = True  # back: a later outage is a new alert
    w.check()
    up["ok"] = False
    w.check()
    clock.advance(6 * 60)
    w.check()
    assert len(_delivered(dispatcher, receiver)) == 2


def test_reconciliation_surprises_are_alerted(session_factory, clock, watcher, dispatcher, receiver):
    clean = SimpleNamespace(failed=0, errors=[], waiting=0)
    assert not watcher.reconciliation(clean)
    assert watcher.reconciliation(SimpleNamespace(failed=1, errors=["order x unknown"], waiting=0))
    assert _delivered(dispatcher, receiver) == ["Coinpilot: reconciliation found something unexpected"]
    assert "order x unknown" in receiver.received[0]["message"]


def test_the_rate_limit_holds_back_a_flood_and_says_so(receiver, clock):
    d = AlertDispatcher(apprise_sender([receiver.url]), clock, max_per_window=3, window_seconds=600).start()
    try:
        accepted = [d.notify(Alert("bot_error", f"k{i}", f"t{i}", "b")) for i in range(10)]
        assert accepted == [True] * 3 + [False] * 7
        clock.advance(601)
        assert d.notify(Alert("bot_error", "k-late", "late", "b"))
        assert _delivered(d, receiver) == ["t0", "t1", "t2", "late"]
        assert "7 more alert(s) were held back" in receiver.received[-1]["message"]
    finally:
        d.stop()


def test_a_failed_delivery_is_retried_in_the_background(receiver, clock):
    receiver.fail_next = 2
    d = AlertDispatcher(apprise_sender([receiver.url]), clock, backoff_seconds=0.05, retries=3).start()
    try:
        assert d.notify(Alert("bot_error", "k", "retried", "b"))
        assert _delivered(d, receiver) == ["retried"]
        assert d.stats.attempts == 3 and d.stats.sent == 1
    finally:
        d.stop()


def test_a_hanging_receiver_does_not_slow_an_order(session_factory, clock, receiver):
    receiver.hang_seconds = 30  # released when the receiver stops
    d = AlertDispatcher(apprise_sender([receiver.url]), clock).start()
    service = TradeService(session_factory, FakeExchange(clock), clock, TradingMode.MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    try:
        service.execute(bot, Side.BUY, quote_size="10")  # warm-up: imports, first statements
        started = time.perf_counter()
        for i in range(20):
            assert d.notify(Alert("order_failed", f"k{i}", f"t{i}", "b"))
        queued = time.perf_counter() - started
        clock.advance(60)
        started = time.perf_counter()
        result = service.execute(make_bot(session_factory, clock, "ETH-USD"), Side.BUY, quote_size="10")
        order = time.perf_counter() - started
        assert result.allowed and result.trade is not None and result.trade.status == "OPEN"
        assert receiver.received == []  # the receiver is indeed stuck
        assert queued < 0.1, f"queuing 20 alerts took {queued:.3f} s"
        assert order < 1.0, f"an order took {order:.3f} s while the receiver hung"
    finally:
        d.stop(timeout=0.1)


def test_an_unknown_alert_url_stops_start_up_naming_the_setting(tmp_path):
    from coinpilot.config import Settings
    from coinpilot.services import StartupError, build_alerts

    assert build_alerts(Settings(home=tmp_path)) is None  # no URLs: no alerts
    with pytest.raises(StartupError, match="COINPILOT_ALERTS__URLS"):
        build_alerts(Settings(home=tmp_path, alerts={"urls": ["nosuchservice://x"]}))
    assert build_alerts(Settings(home=tmp_path, alerts={"urls": ["json://127.0.0.1:9/"]})) is not None
