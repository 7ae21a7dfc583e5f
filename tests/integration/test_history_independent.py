"""The order path does not slow down as history grows: what it reads is stored and indexed.

``realized_at`` and ``last_fill_at`` are booked on the trade by settlement; positions load only
their open tranches; the loss streak stops at the first non-loss; every statement an order runs
reads through an index (checked with SQLite's query planner on a database full of history).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.exchange.paper import PaperExchange
from coinpilot.store.models import Fill, SafetyAudit, Trade, Tranche
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo
from coinpilot.store.repos.dto import read_trade_dto, trade_dto
from coinpilot.store.repos.snapshot import locked_facts
from tests.integration._fakes import TEST_LIMITS, StaticMarket, enable_trading, make_bot

D = Decimal
MOCK = TradingMode.MOCK


@pytest.fixture
def market(clock):
    return StaticMarket(clock)


@pytest.fixture
def paper(session_factory, market, clock):
    return PaperExchange(
        session_factory, market, clock, fill_delay_seconds=0, starting_balances={"USD": D("1000000")}
    )


# Room for many round trips a day and a loss streak longer than the tests build.
LIMITS = replace(TEST_LIMITS, max_daily_trades=100, max_daily_trades_per_bot=50, max_consecutive_losses=10)


@pytest.fixture
def service(session_factory, paper, clock):
    return TradeService(session_factory, paper, clock, MOCK, LIMITS)


@pytest.fixture
def sync(session_factory, paper, clock):
    return OrderSync(session_factory, paper, clock, MOCK)


def _round_trip(service, sync, clock, market, bot, *, exit_price: Decimal) -> tuple[int, int]:
    """Buy $20, settle, sell it all at ``exit_price``, settle: (buy id, sell id)."""
    buy = service.execute(bot, Side.BUY, quote_size="20")
    assert buy.allowed and buy.trade is not None, buy.decision
    sync.sync_trade(buy.trade.id)
    held = service.get_trade(buy.trade.id).filled_base_size
    clock.advance(60)
    market.prices["BTC-USD"] = (exit_price, exit_price + D("10"))
    sell = service.execute(bot, Side.SELL, base_size=held, intent=TradeIntent.MANUAL)
    assert sell.allowed and sell.trade is not None, sell.decision
    sync.sync_trade(sell.trade.id)
    clock.advance(60)
    market.prices["BTC-USD"] = (D("50000"), D("50010"))
    return buy.trade.id, sell.trade.id


def test_settlement_books_realized_at_and_last_fill_at_on_the_trade(
    session_factory, clock, service, sync, market
):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    buy_id, sell_id = _round_trip(service, sync, clock, market, bot, exit_price=D("51000"))
    with session_factory() as s:
        buy, sell = s.get(Trade, buy_id), s.get(Trade, sell_id)
        assert buy.last_fill_at == max(f.time for f in buy.fills)
        assert sell.last_fill_at == max(f.time for f in sell.fills)
        assert buy.realized_pnl is None and buy.realized_at is None  # entries realise nothing
        assert sell.realized_pnl is not None and sell.realized_pnl > 0
        assert sell.realized_at == sell.settled_at
        assert locked_facts(s, bot, MOCK).last_fill_at == sell.last_fill_at
        assert trade_repo.last_fill_per_bot(s, MOCK) == {bot: sell.last_fill_at}
        assert trade_repo.last_fill_per_bot(s, TradingMode.PRODUCTION) == {}


def test_loss_streak_counts_newest_losses_until_the_first_win(session_factory, clock, service, sync, market):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    # loss, win, loss, loss, loss (oldest first): the streak is the three newest
    for exit_price in ("49000", "51000", "49000", "48000", "49500"):
        _round_trip(service, sync, clock, market, bot, exit_price=D(exit_price))
    with session_factory() as s:
        assert trade_repo.consecutive_losses(s, MOCK, bot) == 3
        assert trade_repo.consecutive_losses(s, TradingMode.PRODUCTION, bot) == 0
    _round_trip(service, sync, clock, market, bot, exit_price=D("52000"))
    with session_factory() as s:
        assert trade_repo.consecutive_losses(s, MOCK, bot) == 0


def test_position_reads_only_open_tranches_and_keeps_closed_ones_as_history(
    session_factory, clock, service, sync, market
):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    _round_trip(service, sync, clock, market, bot, exit_price=D("51000"))
    _round_trip(service, sync, clock, market, bot, exit_price=D("51000"))
    buy = service.execute(bot, Side.BUY, quote_size="20")
    sync.sync_trade(buy.trade.id)
    with session_factory() as s:
        pos = position_repo.get_position(s, bot, MOCK)
        assert [t.trade_id for t in pos.tranches] == [buy.trade.id]
        facts = locked_facts(s, bot, MOCK)
        assert (facts.position_base, facts.position_cost, facts.open_tranches) == (pos.base_size, pos.cost, 1)
        history = s.scalars(sa.select(Tranche).where(Tranche.position_id == pos.id)).all()
        assert len(history) == 3 and sum(t.closed_at is None for t in history) == 1


def test_trade_answer_read_without_the_orm_equals_the_orm_one(session_factory, clock, service, sync, market):
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    buy_id, sell_id = _round_trip(service, sync, clock, market, bot, exit_price=D("51000"))
    with session_factory() as s:
        for trade_id in (buy_id, sell_id):
            trade = s.get(Trade, trade_id)
            audit = s.get(SafetyAudit, trade.safety_audit_id)
            assert read_trade_dto(s, trade_id) == trade_dto(trade, audit)
            assert len(read_trade_dto(s, trade_id).fills) == len(trade.fills) > 0
        assert read_trade_dto(s, 10_000) is None


# ---- query plans ---------------------------------------------------------------------------

# Tables that grow with every order: reading one of them without an index is a full scan.
GROWING = ("trades", "fills", "tranches", "safety_audit", "paper_orders", "paper_fills")
SCAN = re.compile(r"\bSCAN (\w+)")


def _record_statements(engine):
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", before)


def test_every_statement_of_an_order_and_its_settlement_reads_through_an_index(
    engine, session_factory, clock, service, sync, market
):
    if engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite (PostgreSQL plans depend on table statistics)")
    bots = [make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")]
    enable_trading(session_factory, clock)
    for _ in range(3):  # some history, with losses, wins and closed tranches
        _round_trip(service, sync, clock, market, bots[0], exit_price=D("49000"))
        _round_trip(service, sync, clock, market, bots[0], exit_price=D("51000"))
    clock.advance(timedelta(days=1).total_seconds())
    seen, stop = _record_statements(engine)
    try:
        _round_trip(service, sync, clock, market, bots[0], exit_price=D("51000"))
    finally:
        stop()
    assert len(seen) > 20
    scans: list[str] = []
    with engine.connect() as conn:
        for statement, params in seen:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            for row in plan:
                found = SCAN.search(row[-1])
                if found and found.group(1) in GROWING:
                    scans.append(f"{row[-1]} :: {' '.join(statement.split())[:160]}")
    assert scans == [], "full scans of growing tables on the order path:\n" + "\n".join(scans)


def test_fill_look_up_by_trade_uses_the_unique_index(engine):
    """The fills of a trade are found by (trade_id, fill_id)'s unique index, not a scan."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite query plan")
    stmt = sa.select(Fill).where(Fill.trade_id == 1)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX" in plan, plan


def test_realized_booking_excludes_failed_and_open_trades(session_factory, clock):
    """Only trades that realised P&L carry realized_at: sums by date cannot pick up others."""
    bot = make_bot(session_factory, clock)
    now = clock.now()
    with session_factory() as s, s.begin():
        for status in (TradeStatus.FAILED, TradeStatus.OPEN, TradeStatus.SETTLED):
            s.add(
                Trade(
                    bot_id=bot,
                    mode=MOCK,
                    side=Side.SELL,
                    intent=TradeIntent.MANUAL,
                    pair="BTC-USD",
                    client_order_id=f"c-{status}",
                    status=status,
                    requested_base_size=D("1"),
                    status_history=[],
                    created_at=now,
                    updated_at=now,
                    realized_pnl=D("-3") if status == TradeStatus.SETTLED else None,
                    realized_at=now if status == TradeStatus.SETTLED else None,
                )
            )
    with session_factory() as s:
        assert trade_repo.realized_since(s, MOCK, now - timedelta(hours=1)) == D("-3")
        assert trade_repo.realized_today_and_week(s, MOCK, now, now - timedelta(days=1), bot) == (
            D("-3"),
            D("-3"),
            D("-3"),
        )
        assert trade_repo.consecutive_losses(s, MOCK, bot) == 1


class _VmSteps:
    """Counts SQLite virtual-machine instructions per statement (a deterministic measure of the
    work a query does: a scan of N rows costs instructions in proportion to N)."""

    EVERY = 10

    def __init__(self, engine):
        self.counts: dict[str, int] = {}
        self._engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "checkout", self._checkout)
        engine.dispose()  # pooled connections get the handler at their next checkout

    def _checkout(self, dbapi_conn, record, proxy):
        info = record.info

        def tick():
            stmt = info.get("coinpilot_stmt")
            if stmt is not None:
                self.counts[stmt] = self.counts.get(stmt, 0) + self.EVERY
            return 0

        dbapi_conn.set_progress_handler(tick, self.EVERY)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        info = conn.connection._connection_record.info
        info["coinpilot_stmt"] = (
            " ".join(statement.split())
            if statement.lstrip()[:6].upper()
            in (
                "SELECT",
                "UPDATE",
                "INSERT",
                "DELETE",
            )
            else None
        )

    def close(self):
        sa.event.remove(self._engine, "before_cursor_execute", self._before)
        sa.event.remove(self._engine, "checkout", self._checkout)
        self._engine.dispose()


def test_the_work_of_an_order_does_not_grow_with_the_bots_history(
    engine, session_factory, clock, service, sync, market
):
    if engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite VM instructions")
    bot, other = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)

    def history(round_trips: int) -> None:
        for i in range(round_trips):
            if i % 20 == 19:
                clock.advance(timedelta(days=1).total_seconds())  # daily trade caps
            _round_trip(service, sync, clock, market, bot, exit_price=D("49000" if i % 3 else "51000"))
        clock.advance(timedelta(days=8).total_seconds())  # outside today's and this week's sums

    def one_round_trip() -> dict[str, int]:
        steps = _VmSteps(engine)
        try:
            _round_trip(service, sync, clock, market, bot, exit_price=D("51000"))
        finally:
            steps.close()
        return steps.counts

    history(3)
    small = one_round_trip()
    history(40)  # ten times the history
    large = one_round_trip()
    assert sum(small.values()) > 1000  # the counter counts
    grown = {
        stmt: (small.get(stmt, 0), n) for stmt, n in large.items() if n > small.get(stmt, 0) * 1.25 + 200
    }
    assert grown == {}, "statements whose work grew with history:\n" + "\n".join(
        f"{a} -> {b}: {stmt[:200]}" for stmt, (a, b) in grown.items()
    )
    assert other  # the second bot's (empty) history is part of every mode-wide read
