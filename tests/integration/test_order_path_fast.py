"""The order path's fast queries give the same answers as the general ones they replace."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.types import Side, TradeIntent, TradeStatus, TradingMode
from coinpilot.exchange.paper import PaperExchange
from coinpilot.store.models import PaperOrder, SafetyAudit, Trade
from coinpilot.store.repos import trades as trade_repo
from tests.integration._fakes import StaticMarket, make_bot

D = Decimal
MOCK, PRODUCTION = TradingMode.MOCK, TradingMode.PRODUCTION


def _trade(
    s,
    clock,
    bot_id,
    *,
    mode=MOCK,
    side=Side.BUY,
    status=TradeStatus.PENDING,
    quote=None,
    base=None,
    applied=False,
    avg=None,
    order_id=None,
    audit_price=None,
):
    now = clock.now()
    audit_id = None
    if audit_price is not None:
        audit = SafetyAudit(
            created_at=now,
            mode=mode,
            bot_id=bot_id,
            side=side,
            intent=TradeIntent.MANUAL,
            allowed=True,
            reasons=[],
            request={"price": audit_price},
            inputs={},
        )
        s.add(audit)
        s.flush()
        audit_id = audit.id
    t = Trade(
        bot_id=bot_id,
        mode=mode,
        side=side,
        intent=TradeIntent.MANUAL,
        pair="BTC-USD",
        client_order_id=str(uuid.uuid4()),
        order_id=order_id,
        status=status,
        requested_quote_size=quote,
        requested_base_size=base,
        average_fill_price=avg,
        position_applied=applied,
        safety_audit_id=audit_id,
        status_history=[{"status": "PENDING", "at": now.isoformat(), "note": "safety checks passed"}],
        created_at=now,
        updated_at=now,
    )
    s.add(t)
    s.flush()
    return t.id


def test_in_flight_equals_the_separate_in_flight_and_open_trade_queries(session_factory, clock):
    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    with session_factory() as s, s.begin():
        _trade(s, clock, a, quote=D("20"))  # pending quote-sized buy
        _trade(s, clock, a, base=D("0.5"), status=TradeStatus.OPEN, order_id="o1", audit_price="100")
        _trade(s, clock, a, base=D("0.25"), status=TradeStatus.FILLED, order_id="o2", avg=D("80"))
        _trade(s, clock, a, quote=D("7"), status=TradeStatus.FILLED, order_id="o3", applied=True)
        _trade(s, clock, a, quote=D("99"), status=TradeStatus.SETTLED, order_id="o4", applied=True)
        _trade(s, clock, b, quote=D("30"), status=TradeStatus.OPEN, order_id="o5")
        _trade(s, clock, b, side=Side.SELL, base=D("1"), status=TradeStatus.OPEN, order_id="o6")
        _trade(s, clock, b, quote=D("1000"), mode=PRODUCTION)
    with session_factory() as s:
        for bot in (a, b):
            got = trade_repo.in_flight(s, MOCK, bot)
            assert got.buy_quote_bot == trade_repo.inflight_buy_quote(s, MOCK, bot)
            assert got.buy_quote_all == trade_repo.inflight_buy_quote(s, MOCK)
            assert got.bot_has_open_trade == bool(trade_repo.open_trades(s, MOCK, bot))
        assert trade_repo.in_flight(s, MOCK, a).buy_quote_bot == D("20") + D("50") + D("20")
        assert trade_repo.in_flight(s, MOCK, a).buy_quote_all == D("120")


def test_in_flight_of_a_bot_without_trades_is_zero_and_not_open(session_factory, clock):
    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    with session_factory() as s, s.begin():
        _trade(s, clock, a, quote=D("20"))
    with session_factory() as s:
        got = trade_repo.in_flight(s, MOCK, b)
    assert (got.buy_quote_bot, got.buy_quote_all, got.bot_has_open_trade) == (0, D("20"), False)


def test_combined_daily_counts_equal_the_separate_counts(session_factory, clock):
    from coinpilot.domain.trade_facts import count_trades

    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    with session_factory() as s, s.begin():
        _trade(s, clock, a, quote=D("20"))
        _trade(s, clock, b, quote=D("20"))
        _trade(s, clock, b, quote=D("20"), status=TradeStatus.FAILED)  # refused before the ack
        _trade(s, clock, b, quote=D("20"), status=TradeStatus.FAILED, order_id="x")  # counts
        _trade(s, clock, a, quote=D("20"), mode=PRODUCTION)
    since = clock.now() - timedelta(hours=1)
    with session_factory() as s:
        for bot in (a, b):
            inflight, facts = trade_repo.in_flight_and_today(s, MOCK, bot, since)
            assert inflight == trade_repo.in_flight(s, MOCK, bot)
            assert (count_trades(facts), count_trades(facts, bot)) == (
                trade_repo.count_trades_since(s, MOCK, since),
                trade_repo.count_trades_since(s, MOCK, since, bot),
            )
        _, facts = trade_repo.in_flight_and_today(s, MOCK, b, since)
        assert (count_trades(facts), count_trades(facts, b)) == (3, 2)
        _, facts = trade_repo.in_flight_and_today(s, MOCK, a, clock.now() + timedelta(1))
        assert (count_trades(facts), count_trades(facts, a)) == (0, 0)


def test_mark_acknowledged_opens_a_pending_trade_with_its_order_id_and_history(session_factory, clock):
    bot = make_bot(session_factory, clock)
    with session_factory() as s, s.begin():
        tid = _trade(s, clock, bot, quote=D("20"))
    clock.advance(1)
    now, next_sync = clock.now(), clock.now() + timedelta(seconds=0.25)
    with session_factory() as s, s.begin():
        assert trade_repo.mark_acknowledged(s, tid, "ord-1", now, next_sync) is True
    with session_factory() as s:
        t = s.get(Trade, tid)
        assert (t.status, t.order_id, t.submitted_at, t.opened_at) == (TradeStatus.OPEN, "ord-1", now, now)
        assert (t.next_sync_at, t.sync_attempts, t.last_error, t.updated_at) == (next_sync, 0, None, now)
        assert [h["status"] for h in t.status_history] == ["PENDING", "OPEN"]
        assert t.status_history[-1] == {
            "status": "OPEN",
            "at": now.isoformat(),
            "note": "acknowledged: ord-1",
        }


def test_mark_acknowledged_changes_nothing_once_the_trade_has_an_order_id(session_factory, clock):
    bot = make_bot(session_factory, clock)
    with session_factory() as s, s.begin():
        tid = _trade(s, clock, bot, quote=D("20"), order_id="ord-1")
        opened = _trade(s, clock, bot, quote=D("20"), status=TradeStatus.OPEN, order_id="ord-2")
    with session_factory() as s, s.begin():
        assert trade_repo.mark_acknowledged(s, tid, "ord-9", clock.now(), clock.now()) is False
        assert trade_repo.mark_acknowledged(s, opened, "ord-2", clock.now(), clock.now()) is False
    with session_factory() as s:
        assert s.get(Trade, tid).order_id == "ord-1" and s.get(Trade, tid).status == TradeStatus.PENDING
        assert len(s.get(Trade, opened).status_history) == 1


def test_paper_replay_of_an_accepted_order_returns_its_ack_even_when_it_would_be_refused_now(
    session_factory, clock
):
    market = StaticMarket(clock)
    paper = PaperExchange(session_factory, market, clock, fill_delay_seconds=0)
    request = OrderRequest(str(uuid.uuid4()), "BTC-USD", Side.BUY, quote_size=D("100.00"))
    first = paper.place_market_order(request)
    market.fail = True  # no price now: a new order would be refused
    assert paper.place_market_order(request) == first
    del market.prices["BTC-USD"]  # product gone: a new order would be rejected
    assert paper.place_market_order(request) == first
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PaperOrder)) == 1


def test_paper_order_without_delay_is_filled_when_place_returns(session_factory, clock):
    paper = PaperExchange(session_factory, StaticMarket(clock), clock, fill_delay_seconds=0)
    ack = paper.place_market_order(OrderRequest("c1", "BTC-USD", Side.BUY, quote_size=D("100.00")))
    with session_factory() as s:
        row = s.get(PaperOrder, ack.order_id)
        assert row.status == "FILLED" and row.filled_value + row.total_fees == D("100.00")
    assert paper.get_balances()["USD"].hold == 0


def test_combined_realized_pnl_equals_the_separate_sums(session_factory, clock):
    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    now = clock.now()
    today, week = now.replace(hour=0, minute=0), now - timedelta(days=now.weekday(), hours=now.hour)
    cases = [  # (bot, mode, pnl, settled_at, closed_at)
        (a, MOCK, D("1.5"), now, None),
        (a, MOCK, D("-0.25"), today - timedelta(days=1), None),  # this week, not today
        (a, MOCK, D("9"), week - timedelta(days=1), None),  # last week
        (a, MOCK, D("0.75"), None, now),  # closed with partial fills today
        (b, MOCK, D("2"), now, None),
        (b, MOCK, D("-4"), today - timedelta(hours=1), None),
        (b, PRODUCTION, D("100"), now, None),
    ]
    with session_factory() as s, s.begin():
        for bot, mode, pnl, settled, closed in cases:
            tid = _trade(
                s,
                clock,
                bot,
                mode=mode,
                side=Side.SELL,
                base=D("1"),
                status=TradeStatus.SETTLED,
                order_id=str(uuid.uuid4()),
                applied=True,
            )
            t = s.get(Trade, tid)
            t.realized_pnl, t.settled_at, t.closed_at = pnl, settled, closed
            t.realized_at = settled or closed  # as settlement books it
    with session_factory() as s:
        for bot in (a, b):
            assert trade_repo.realized_today_and_week(s, MOCK, today, week, bot) == (
                trade_repo.realized_since(s, MOCK, today),
                trade_repo.realized_since(s, MOCK, today, bot),
                trade_repo.realized_since(s, MOCK, week, bot),
            )
        assert trade_repo.realized_today_and_week(s, MOCK, today, week, a) == (
            D("4.25"),
            D("2.25"),
            D("2.00"),
        )


def test_a_stale_cached_pair_is_caught_under_the_lock_and_the_request_priced_again(session_factory, clock):
    """The bot's pair is read once per TradeService; if the id comes to name a bot on another
    pair, the locked re-read notices, and the request starts over with the right pair."""
    from coinpilot.engine.orders.execution import TradeService
    from tests.integration._fakes import TEST_LIMITS, enable_trading

    market = StaticMarket(clock)
    paper = PaperExchange(session_factory, market, clock, fill_delay_seconds=0)
    service = TradeService(session_factory, paper, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    service._intake.pairs[bot] = "ETH-USD"  # as if the id named an ETH-USD bot when it was cached
    res = service.execute(bot, Side.BUY, quote_size=D("20"))
    assert res.allowed and res.trade is not None, res.decision
    assert res.trade.pair == "BTC-USD" and service._intake.pairs[bot] == "BTC-USD"
    with session_factory() as s:
        audits = s.scalars(sa.select(SafetyAudit).order_by(SafetyAudit.id)).all()
        assert [a.request["pair"] for a in audits] == ["BTC-USD"]  # nothing audited at the stale pair
        assert s.scalars(sa.select(Trade.pair)).all() == ["BTC-USD"]


def test_read_session_reads_committed_rows_without_holding_a_transaction(engine, session_factory, clock):
    from coinpilot.store.db import read_session

    bot = make_bot(session_factory, clock)
    with read_session(session_factory) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Trade)) == 0
        raw = s.connection().connection.dbapi_connection
        if engine.dialect.name == "postgresql":
            assert raw.autocommit is True  # no BEGIN / ROLLBACK round trips
        # a writer is not blocked by the reader
        with session_factory() as w, w.begin():
            _trade(w, clock, bot, quote=D("20"))
        if engine.dialect.name == "postgresql":  # each statement sees what is committed
            assert s.scalar(sa.select(sa.func.count()).select_from(Trade)) == 1
    with read_session(session_factory) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Trade)) == 1


def test_the_combined_locked_read_equals_the_separate_reads(session_factory, clock):
    from coinpilot.store.repos import positions as position_repo
    from coinpilot.store.repos.snapshot import bot_facts, locked_facts

    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    with session_factory() as s, s.begin():
        _trade(s, clock, a, quote=D("20"))
        _trade(s, clock, b, quote=D("20"), status=TradeStatus.FAILED)  # refused before the ack
        filled = _trade(s, clock, b, quote=D("20"), status=TradeStatus.SETTLED, order_id="x")
        s.get(Trade, filled).last_fill_at = clock.now() - timedelta(minutes=3)
        _trade(s, clock, a, quote=D("20"), mode=PRODUCTION)
        position_repo.ensure_position(s, b, "ETH-USD", MOCK, clock.now())
    with session_factory() as s:
        last_fills = trade_repo.last_fill_per_bot(s, MOCK)
        for bot in (a, b):
            got = locked_facts(s, bot, MOCK)
            pos = position_repo.get_position(s, bot, MOCK)  # the ORM row, as settlement sees it
            assert got is not None and got.bot == bot_facts(s, bot)
            assert got.position_id == (pos.id if pos else None)
            if pos is not None:
                state = position_repo.to_state(pos)
                assert (got.position_base, got.position_cost, got.open_tranches) == (
                    state.base_size,
                    state.cost,
                    len(state.tranches),
                )
            assert got.last_fill_at == last_fills.get(bot)
        assert locked_facts(s, b, MOCK).last_fill_at == clock.now() - timedelta(minutes=3)
        assert locked_facts(s, a, MOCK).position_id is None
        assert locked_facts(s, 999, MOCK) is None


def test_a_bot_deleted_after_its_pair_was_cached_gets_an_audited_invalid_request(session_factory, clock):
    import pytest

    from coinpilot.engine.orders.execution import InvalidTradeRequest, TradeService
    from coinpilot.store.models import Bot
    from tests.integration._fakes import TEST_LIMITS, enable_trading

    paper = PaperExchange(session_factory, StaticMarket(clock), clock, fill_delay_seconds=0)
    service = TradeService(session_factory, paper, clock, MOCK, TEST_LIMITS)
    bot = make_bot(session_factory, clock)
    enable_trading(session_factory, clock)
    assert service.validate(bot, Side.BUY, quote_size=D("20")).allowed  # caches the pair
    with session_factory() as s, s.begin():
        s.delete(s.get(Bot, bot))
    with pytest.raises(InvalidTradeRequest) as err:
        service.execute(bot, Side.BUY, quote_size=D("20"))
    assert err.value.field == "bot_id"
    with session_factory() as s:
        last = s.scalars(sa.select(SafetyAudit).order_by(SafetyAudit.id.desc())).first()
        assert last.allowed is False and last.reasons[0]["field"] == "bot_id"
        assert s.scalar(sa.select(sa.func.count()).select_from(Trade)) == 0


def test_the_state_the_safety_check_loads_costs_five_statements_whatever_the_history(
    engine, session_factory, clock
):
    """Counting in the domain instead of in SQL adds no round trip under the trading lock: the
    in-flight read carries today's trades (five statements, as before the kernel)."""
    from coinpilot.domain.safety import SafetyRequest
    from coinpilot.store.models import ControlState
    from coinpilot.store.repos.snapshot import gather_context
    from tests.integration._fakes import TEST_LIMITS, enable_trading

    a, b = make_bot(session_factory, clock), make_bot(session_factory, clock, "ETH-USD")
    enable_trading(session_factory, clock)
    with session_factory() as s, s.begin():
        for _ in range(3):
            _trade(s, clock, a, quote=D("20"), status=TradeStatus.SETTLED, order_id=str(uuid.uuid4()))
        _trade(s, clock, b, quote=D("20"))
        _trade(s, clock, a, base=D("0.5"), status=TradeStatus.OPEN, order_id="o1", audit_price="100")
    market = StaticMarket(clock, {"BTC-USD": (D("100"), D("100.02"))})
    product = market.get_product("BTC-USD")
    request = SafetyRequest(a, "BTC-USD", Side.BUY, TradeIntent.MANUAL, D("20"), None, D("100.02"))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with session_factory() as s:
        state = s.get(ControlState, 1)
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            got = gather_context(
                s,
                now=clock.now(),
                mode=MOCK,
                state=state,
                bot_id=a,
                product=product,
                balances={},
                limits=TEST_LIMITS,
                request=request,
            )
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    assert got is not None
    assert got.context.trades_today_bot == 4 and got.context.trades_today_total == 5
    assert got.context.has_open_trade and got.context.position_cost == D("50")
    # Five reads, plus one for the audit row that prices the base-sized buy in flight.
    assert len(statements) == 6, statements


def test_a_trade_judged_again_is_not_counted_against_itself(session_factory, clock):
    from coinpilot.domain.trade_facts import count_trades

    a = make_bot(session_factory, clock)
    with session_factory() as s, s.begin():
        _trade(s, clock, a, quote=D("20"), status=TradeStatus.SETTLED, order_id="done")
        resent = _trade(s, clock, a, quote=D("20"))  # PENDING, no id: the one judged again
    since = clock.now() - timedelta(hours=1)
    with session_factory() as s:
        inflight, facts = trade_repo.in_flight_and_today(s, MOCK, a, since, exclude_trade_id=resent)
        assert count_trades(facts, a) == 1 and not inflight.bot_has_open_trade
        _, facts = trade_repo.in_flight_and_today(s, MOCK, a, since)
        assert count_trades(facts, a) == 2
