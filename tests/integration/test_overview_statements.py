"""The overview poll: its SQL statement count does not grow with the number of bots, and its
figures are the safety check's own (trades left, cooldown, loss streak, unrealised P&L).

Before this, the 5-second poll ran 29 statements at 10 bots and 209 at 100 (one set per bot).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.safety import day_start
from coinpilot.domain.types import TradingMode
from coinpilot.store.repos.trade_counters import recent_exits
from coinpilot.testing.dashboard_seed import seed_dashboard
from coinpilot.views.overview import build_overview
from coinpilot.views.safety_status import safety_status

STALE = timedelta(minutes=3)


def _safety_check_losses(session, bot_id: int, now) -> int:
    """The losses in a row the safety check counts (its own read and rule)."""
    from coinpilot.domain.loss_lock import loss_lock, window_start

    limits = SafetyLimits()
    since = window_start(now, limits, None)
    exits = recent_exits(session, TradingMode.MOCK, bot_id, since, limits.max_consecutive_losses)
    return loss_lock(exits, now, limits, None).losses


def _count_statements(engine: sa.Engine, session_factory, now) -> tuple[int, dict]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many) -> None:
        if not statement.lstrip().upper().startswith(("PRAGMA", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with session_factory() as s:
            out = build_overview(s, now, TradingMode.MOCK, SafetyLimits(), day_start(now), STALE)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen), out


def test_overview_statement_count_is_the_same_at_10_and_100_bots(engine, session_factory, clock) -> None:
    now = clock.now()
    seed_dashboard(session_factory, now, bots=10, trades=200)
    at_10, summary_10 = _count_statements(engine, session_factory, now)
    assert len(summary_10["bots"]) == 10

    seed_dashboard(session_factory, now, bots=90, trades=1800)
    at_100, summary_100 = _count_statements(engine, session_factory, now)
    assert len(summary_100["bots"]) == 100

    assert at_10 == at_100, (at_10, at_100)
    print(f"overview statements: {at_10} at 10 bots, {at_100} at 100")
    assert at_100 <= 15


def test_overview_figures_are_the_safety_checks_own(session_factory, clock) -> None:
    now = clock.now()
    ids = seed_dashboard(session_factory, now, bots=3, trades=60)
    with session_factory() as s:
        out = build_overview(s, now, TradingMode.MOCK, SafetyLimits(), day_start(now), STALE)
        streaks = {b: _safety_check_losses(s, b, now) for b in ids}
    rows = {r["id"]: r for r in out["bots"]}
    for bot_id in ids:
        usage = rows[bot_id]["usage"]
        assert usage["consecutive_losses"] == streaks[bot_id]
        assert usage["max_trades_today"] == SafetyLimits().max_daily_trades_per_bot
        assert usage["trades_left"] == max(0, usage["max_trades_today"] - usage["trades_today"])
        # The open buy filled 30 minutes ago; the cooldown is 15: over.
        assert usage["cooldown_remaining_seconds"] == 0
        pos = rows[bot_id]["position"]
        # 0.0994 at the stored price 101.25, cost 10: unrealised = 10.064250 - 10.
        assert Decimal(pos["unrealized_pnl"]) == Decimal("0.0994") * Decimal("101.25") - Decimal("10")
        assert pos["tranches"] == 1 and pos["max_tranches"] == 3
    # The seeded exits are older than the lock's lookback window: none counts, as in the check.


def test_cooldown_left_follows_the_last_fill_on_the_injected_clock(session_factory, clock) -> None:
    now = clock.now()
    seed_dashboard(session_factory, now, bots=1, trades=1)
    later = now - timedelta(minutes=30) + timedelta(minutes=5)  # 5 minutes after the open buy
    with session_factory() as s:
        out = build_overview(s, later, TradingMode.MOCK, SafetyLimits(), day_start(later), STALE)
    assert out["bots"][0]["usage"]["cooldown_remaining_seconds"] == 600.0


def test_stopped_bot_shows_no_live_confirmation_and_running_bot_turns_stale(session_factory, clock) -> None:
    now = clock.now()
    seed_dashboard(session_factory, now, bots=3, trades=3)
    with session_factory() as s:
        fresh = build_overview(s, now, TradingMode.MOCK, SafetyLimits(), day_start(now), STALE)
        late = now + timedelta(minutes=10)
        old = build_overview(s, late, TradingMode.MOCK, SafetyLimits(), day_start(late), STALE)
    stopped = [r for r in fresh["bots"] if r["status"] == "STOPPED"]
    assert stopped and all(r["confirmation"]["action"] is None for r in stopped)
    assert all("STOPPED" in r["confirmation"]["inactive"] for r in stopped)
    running = [r for r in fresh["bots"] if r["status"] == "RUNNING"]
    assert running and not any(r["stale"] for r in running)
    assert all(r["stale"] for r in old["bots"] if r["status"] == "RUNNING")
    assert not any(r["stale"] for r in old["bots"] if r["status"] == "STOPPED")


def test_safety_status_statement_count_is_the_same_at_10_and_100_bots(engine, session_factory, clock) -> None:
    """`coinpilot safety status` ran 313 statements at 100 bots (about three per bot)."""
    from coinpilot.engine.risk.control import ControlService

    now = clock.now()
    control = ControlService(session_factory, clock, TradingMode.MOCK)

    def count() -> tuple[int, dict]:
        seen: list[str] = []

        def listen(_c, _cur, statement, *_rest) -> None:
            seen.append(statement)

        sa.event.listen(engine, "before_cursor_execute", listen)
        try:
            out = safety_status(control, SafetyLimits())
        finally:
            sa.event.remove(engine, "before_cursor_execute", listen)
        return len(seen), out

    seed_dashboard(session_factory, now, bots=10, trades=200)
    at_10, status_10 = count()
    seed_dashboard(session_factory, now, bots=90, trades=1800)
    at_100, status_100 = count()
    assert len(status_10["bots"]) == 10 and len(status_100["bots"]) == 100
    assert at_10 == at_100, (at_10, at_100)
    row = status_100["bots"][0]
    assert row["trades_today"] >= 0 and row["tranches"] == 1


def test_each_bot_row_shows_its_own_newest_trade(session_factory, clock) -> None:
    """The last-trade read is one look-up per bot (it once returned one trade for all bots)."""
    from coinpilot.store.models import Trade

    now = clock.now()
    ids = seed_dashboard(session_factory, now, bots=4, trades=40)
    with session_factory() as s:
        out = build_overview(s, now, TradingMode.MOCK, SafetyLimits(), day_start(now), STALE)
        newest = {
            b: s.scalar(
                sa.select(sa.func.max(Trade.id)).where(Trade.bot_id == b, Trade.mode == TradingMode.MOCK)
            )
            for b in ids
        }
    rows = {r["id"]: r for r in out["bots"]}
    assert {b: (rows[b]["last_trade"] or {}).get("id") for b in ids} == newest
    assert all(rows[b]["last_trade"]["bot_id"] == b for b in ids)
