"""The start-up warm-up of the order path: it writes nothing, calls no exchange, and leaves the
first real order with no statement left to compile."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.default import CACHE_MISS

from coinpilot.domain.types import Side, TradeIntent, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.warmup import warm_order_path
from coinpilot.store.models import Base
from tests.integration._fakes import TEST_LIMITS, FakeExchange, enable_trading, make_bot


class RecordingExchange:
    """Every call that reaches the exchange, by name."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if callable(value):

            def record(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return value(*args, **kwargs)

            return record
        return value


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
        }


class Compilations:
    """Counts statements compiled (not found in the engine's compiled cache)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []

        @sa.event.listens_for(engine, "before_cursor_execute")
        def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if getattr(context, "cache_hit", None) is CACHE_MISS:
                self.statements.append(statement.split("\n")[0][:80])


@pytest.fixture
def exchange(clock):
    return RecordingExchange(FakeExchange(clock))


def test_warm_up_writes_nothing_calls_no_exchange_and_the_first_order_compiles_nothing(
    engine, session_factory, clock, exchange
):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    service = TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)
    before = _row_counts(engine)
    compiled = Compilations(engine)

    assert warm_order_path(service, session_factory, clock) is True

    assert exchange.calls == []
    assert _row_counts(engine) == before
    assert compiled.statements, "the warm-up compiled the order path's statements"
    compiled.statements.clear()
    result = service.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert result.trade is not None and result.trade.status == "OPEN"
    assert compiled.statements == []


def test_without_a_warm_up_the_first_order_compiles_its_statements(engine, session_factory, clock, exchange):
    """The counter above can fail: a cold engine's first order compiles."""
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    service = TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)
    compiled = Compilations(engine)
    result = service.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
    assert result.trade is not None
    assert len(compiled.statements) >= 5, compiled.statements


def test_no_bot_means_nothing_to_warm(engine, session_factory, clock, exchange):
    service = TradeService(session_factory, exchange, clock, TradingMode.MOCK, TEST_LIMITS)
    before = _row_counts(engine)
    assert warm_order_path(service, session_factory, clock) is False
    assert exchange.calls == [] and _row_counts(engine) == before


def test_start_up_warms_the_order_path_before_trading_is_released(settings, clock) -> None:  # type: ignore[no-untyped-def]
    from coinpilot.runtime.startup import BackgroundReconciliation
    from coinpilot.services import build_services

    exchange = RecordingExchange(FakeExchange(clock))
    svc = build_services(settings, clock=clock, market=exchange.market, exchange=exchange, migrate=False)
    try:
        bot = make_bot(svc.sessions, clock)
        enable_trading(svc.sessions, clock)
        engine = svc.sessions.kw["bind"]
        before = _row_counts(engine)
        compiled = Compilations(engine)
        released: list[bool] = []
        BackgroundReconciliation(svc, lambda: released.append(svc.reconciled)).start()
        assert released == [True]
        assert exchange.calls == [] and _row_counts(engine) == before
        compiled.statements.clear()
        result = svc.trades.execute(bot, Side.BUY, quote_size="20", intent=TradeIntent.ENTRY)
        assert result.trade is not None and result.trade.status == "OPEN"
        assert compiled.statements == []
    finally:
        svc.close()
