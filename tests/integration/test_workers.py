"""Three `coinpilot worker` processes share 60 bots on PostgreSQL; one is killed with SIGKILL.

Checks: every bot keeps being evaluated after the kill (its leases expire and the survivors
take its bots over), no bot is evaluated by two workers at once (no two evaluations of a bot
closer than the interval allows), no order was doubled (one paper order per trade, one trade per
client_order_id), and no safety limit was exceeded although three processes raced for them.

The bots trade on synthetic replay pairs (``--synthetic-pairs``, scaled copies of the shipped
BTC/ETH candles: Coinpilot allows one bot per pair and ships two pairs). Their RSI-only signal
(oversold 60 / overbought 99) keeps them buying, so the global exposure limit binds while the
workers race.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import IS_POSTGRES

pytestmark = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="multi-worker needs PostgreSQL (SQLite serves one process); set COINPILOT_TEST_DATABASE",
)

D = Decimal
COINPILOT = Path(sys.executable).with_name("coinpilot")
BOTS = 60
INTERVAL = 0.5
LIMITS = {
    "COINPILOT_LIMITS__COOLDOWN_MINUTES": "0",
    "COINPILOT_LIMITS__MAX_DAILY_TRADES": "100",
    "COINPILOT_LIMITS__MAX_DAILY_TRADES_PER_BOT": "3",
    "COINPILOT_LIMITS__MAX_TOTAL_EXPOSURE_USD": "300",
    "COINPILOT_LIMITS__MIN_RESERVED_BALANCE_USD": "0",
}


def _env(db_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINPILOT_")}
    env.update(LIMITS)
    env.update(
        {
            "COINPILOT_UNDER_TEST": "1",
            "COINPILOT_HOME": str(home),
            "COINPILOT_DATABASE_URL": db_url,
            "COINPILOT_ENGINE_INTERVAL_SECONDS": str(INTERVAL),
            "COINPILOT_SYNC_INTERVAL_SECONDS": "0.25",
            "COINPILOT_CANDLE_CACHE_TTL_SECONDS": "0.5",
            "COINPILOT_PAPER_FILL_DELAY_SECONDS": "0.2",
            "COINPILOT_PAPER_STARTING_USD": "5000",
            "COINPILOT_LOG_LEVEL": "WARNING",
        }
    )
    return env


def _setup(db_url: str, home: Path) -> None:
    """Pin the shared replay clock, create 60 running bots, enable mock trading."""
    from coinpilot.config import Settings
    from coinpilot.domain.types import BotStatus, TradingMode
    from coinpilot.engine.risk.control import ControlService
    from coinpilot.exchange.replay import replay_clock
    from coinpilot.exchange.synthetic import synthetic_pairs
    from coinpilot.services import shared_replay_clock
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.models import Bot, BotRuntime

    settings = Settings(home=home, database_url=db_url)
    clock = shared_replay_clock(settings, replay_clock)
    engine = make_engine(db_url)
    sf = make_session_factory(engine)
    now = clock.now()
    signals = {
        "rsi": {"weight": 1.0, "oversold": 60.0, "overbought": 99.0},
        "ma_crossover": {"enabled": False},
        "macd": {"enabled": False},
    }
    with sf() as s, s.begin():
        for pair in synthetic_pairs(BOTS):
            bot = Bot(
                name=f"w-{pair}-{uuid.uuid4().hex[:4]}",
                pair=pair,
                status=BotStatus.RUNNING,
                signal_config=signals,
                buy_threshold=0.05,
                sell_threshold=1.0,
                confirmation_minutes=0.1,
                trade_size_usd=D("5"),
                cooldown_minutes=0,
                max_tranches=3,
                strategy={"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None},
                created_at=now,
                updated_at=now,
            )
            bot.runtime = BotRuntime(consecutive_errors=0)
            s.add(bot)
    ControlService(sf, clock, TradingMode.MOCK).enable_trading(actor="test")
    engine.dispose()


def _start(i: int, env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    log = (home / f"worker{i}.log").open("wb")
    return subprocess.Popen(
        [str(COINPILOT), "worker", "--id", f"w{i}", "--synthetic-pairs", str(BOTS)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_three_workers_share_60_bots_and_survive_one_being_killed(db_url, tmp_path):
    from coinpilot.store.db import make_engine
    from coinpilot.store.models import Evaluation, PaperOrder, Position, Trade, WorkerLease

    home = tmp_path / "home"
    home.mkdir()
    _setup(db_url, home)
    env = _env(db_url, home)
    workers = [_start(i, env, home) for i in range(3)]
    engine = make_engine(db_url)

    def q(stmt):
        with engine.connect() as conn:
            return conn.execute(stmt).all()

    def lease_counts() -> Counter[str]:
        rows = q(sa.select(WorkerLease.worker_id).where(WorkerLease.expires_at > sa.func.now()))
        return Counter(r[0] for r in rows)

    try:
        # Bounds are generous (the machine may be shared); the waits end as soon as it is so.
        def fair_shares() -> bool:  # each heartbeat sheds or claims towards ceil(60 / 3)
            c = lease_counts()
            return len(c) == 3 and sum(c.values()) == BOTS and max(c.values()) <= BOTS // 3 + 1

        _wait(fair_shares, 120, "3 workers holding fair shares of the bots")
        _wait(
            lambda: q(sa.select(sa.func.count(sa.distinct(Evaluation.bot_id))))[0][0] == BOTS,
            60,
            "every bot evaluated",
        )
        time.sleep(2)
        victim_id, _ = lease_counts().most_common(1)[0]
        victim = workers[int(victim_id[1:])]
        victim_bots = {
            r[0] for r in q(sa.select(WorkerLease.bot_id).where(WorkerLease.worker_id == victim_id))
        }
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # Dead: nothing renews these any more, so they are the final expiry times of its leases.
        victim_expiry = dict(
            q(sa.select(WorkerLease.bot_id, WorkerLease.expires_at).where(WorkerLease.worker_id == victim_id))
        )

        # Its leases expire (ttl 3 s) and the two survivors take every bot over (within
        # ttl + heartbeat on a quiet machine; the bound here is for a loaded one).
        def taken_over() -> bool:
            c = lease_counts()
            return victim_id not in c and sum(c.values()) == BOTS

        _wait(taken_over, 60, "the dead worker's bots to be taken over")
        # ... and never before its lease had expired (database time, as the workers see it).
        for bot_id, acquired_at in q(
            sa.select(WorkerLease.bot_id, WorkerLease.acquired_at).where(
                WorkerLease.bot_id.in_(victim_expiry)
            )
        ):
            assert acquired_at >= victim_expiry[bot_id], f"bot {bot_id} taken over before its lease expired"
        mark = max(r[0] for r in q(sa.select(Evaluation.evaluated_at)))

        def evaluated_after() -> set[int]:
            rows = q(sa.select(Evaluation.bot_id).where(Evaluation.evaluated_at > mark).distinct())
            return {r[0] for r in rows}

        _wait(lambda: len(evaluated_after()) == BOTS, 60, "every bot evaluated again after the takeover")
        assert victim_bots <= evaluated_after()
        # The survivors keep trading until the exposure limit ($300 / $5 = 60 entries) binds.
        _wait(lambda: q(sa.select(sa.func.count(Trade.id)))[0][0] >= 60, 120, "60 entries")
        time.sleep(2)  # room for any order past the limit to show up
        for w in workers:
            if w is not victim:
                assert w.poll() is None, "a surviving worker exited"
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(5)

    # No bot evaluated by two workers at once: consecutive evaluations keep their distance.
    times: dict[int, list] = defaultdict(list)
    for bot_id, at in q(
        sa.select(Evaluation.bot_id, Evaluation.evaluated_at).order_by(Evaluation.evaluated_at)
    ):
        times[bot_id].append(at)
    gaps = [(b[i + 1] - b[i]).total_seconds() for b in times.values() for i in range(len(b) - 1)]
    assert gaps and min(gaps) >= INTERVAL * 0.5

    # No order doubled: one paper order per trade, matched by client_order_id.
    trades = q(sa.select(Trade.bot_id, Trade.client_order_id, Trade.order_id, Trade.status))
    assert len(trades) > 0
    assert len({t.client_order_id for t in trades}) == len(trades)
    paper = Counter(r[0] for r in q(sa.select(PaperOrder.client_order_id)))
    assert all(n == 1 for n in paper.values())
    assert set(paper) == {t.client_order_id for t in trades if t.order_id is not None}

    # No limit exceeded, although three processes raced for them.
    assert len(trades) <= 100
    per_bot = Counter(t.bot_id for t in trades)
    assert max(per_bot.values()) <= 3
    costs = [r[0] for r in q(sa.select(Position.cost))]
    assert sum(costs, D(0)) <= D("300")
    assert all(c <= D("100") for c in costs)
    assert len(trades) == 60  # the exposure limit ($300 / $5) is exactly what bound them

    # Every worker runs the order sync over all trades: each fill was settled exactly once.
    bought: dict[int, Decimal] = defaultdict(Decimal)
    for bot_id, base, status in q(sa.select(Trade.bot_id, Trade.filled_base_size, Trade.status)):
        assert status.value == "SETTLED"
        bought[bot_id] += base
    held = dict(q(sa.select(Position.bot_id, Position.base_size)))
    assert held == dict(bought)


def test_leases_split_bots_fairly_and_expire_to_the_survivor(db_url, clock):
    """In-process: two lease managers share 10 bots; one stops heart-beating (a frozen or dead
    worker) and its bots go to the other once the ttl has passed, never earlier."""
    from coinpilot.domain.types import BotStatus
    from coinpilot.engine.cluster.leases import LeaseManager
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.models import WorkerLease
    from tests.integration._engine import add_bot

    engine = make_engine(db_url)
    sf = make_session_factory(engine)
    ids = [add_bot(sf, clock, f"L{i}-USD") for i in range(10)]
    add_bot(sf, clock, "STOP-USD", status=BotStatus.STOPPED)  # no position: never leased
    a = LeaseManager(engine, "a", heartbeat_seconds=0.5, ttl_seconds=1.5)
    b = LeaseManager(engine, "b", heartbeat_seconds=0.5, ttl_seconds=1.5)
    try:
        a.refresh()  # alone: takes everything
        assert a.owned() == set(ids)
        b.refresh()  # sees two workers, but a's leases are live: nothing free yet
        assert b.owned() == frozenset()
        a.refresh()  # a sheds down to its fair share
        b.refresh()
        assert len(a.owned()) == 5 and len(b.owned()) == 5 and not a.owned() & b.owned()
        assert a.holds(min(a.owned())) and not b.holds(min(a.owned()))
        a_bots = a.owned()
        with engine.connect() as conn:
            a_expiry = dict(
                conn.execute(
                    sa.select(WorkerLease.bot_id, WorkerLease.expires_at).where(WorkerLease.worker_id == "a")
                ).all()
            )
        stale_after = timedelta(seconds=b.ttl)

        def no_early_takeover() -> None:
            """b got none of a's bots before they were stale (expired for a whole ttl), by
            database time: this holds however slowly the machine runs the loop below."""
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(WorkerLease.bot_id, WorkerLease.acquired_at).where(
                        WorkerLease.worker_id == "b", WorkerLease.bot_id.in_(a_bots)
                    )
                ).all()
            for bot_id, acquired_at in rows:
                assert acquired_at >= a_expiry[bot_id] + stale_after, f"bot {bot_id} taken before stale"

        # a stops heart-beating but stays present (frozen): b keeps renewing its own share.
        began = time.monotonic()
        while time.monotonic() - began < 2.0:  # a's leases expire after 1.5 s, stale after 3 s
            time.sleep(0.25)
            b.refresh()
            no_early_takeover()
        assert not a.holds(min(a_bots))  # expired (database time): a may no longer trade it
        deadline = time.monotonic() + 30
        while b.refresh() != frozenset(ids):  # stale now or soon: b takes them regardless of shares
            assert time.monotonic() < deadline, "a's stale leases were never taken over"
            time.sleep(0.25)
        no_early_takeover()
    finally:
        a.stop(release=False)
        b.stop()
        engine.dispose()


def test_a_stopped_bot_holding_a_position_is_leased_so_its_protection_runs(db_url, clock):
    from decimal import Decimal

    from coinpilot.domain.types import BotStatus, PositionStatus, TradingMode
    from coinpilot.engine.cluster.leases import LeaseManager
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.models import Position
    from tests.integration._engine import add_bot

    engine = make_engine(db_url)
    sf = make_session_factory(engine)
    holding = add_bot(sf, clock, "HOLD-USD", status=BotStatus.STOPPED)
    add_bot(sf, clock, "IDLE-USD", status=BotStatus.ERROR)
    with sf() as s, s.begin():
        s.add(
            Position(
                bot_id=holding,
                mode=TradingMode.MOCK,
                pair="HOLD-USD",
                status=PositionStatus.OPEN,
                base_size=Decimal("0.5"),
                cost=Decimal("50"),
                opened_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    a = LeaseManager(engine, "a", heartbeat_seconds=0.5, ttl_seconds=1.5)
    try:
        a.refresh()
        assert a.owned() == {holding}
    finally:
        a.stop(release=True)
        engine.dispose()
