"""Benchmark: the bot loop on the paper exchange — cycle time, exchange calls, order latency.

Part 1, one evaluation cycle over 10, 100 and 1,000 bots (each on its own synthetic replay pair:
Coinpilot allows one bot per pair, ``coinpilot.exchange.synthetic``), in the same run as a
reference:

* **engine**: ``EvaluationScheduler.run_cycle`` — candles once per pair through the shared
  ``CachedMarketData``, ONE batched quote call, ``evaluate_many``, one database transaction;
* **reference**: the naive per-bot path — ``EvaluationService.evaluate_bot`` for each bot on the
  same market without the cache (its own candle and quote calls, its own transactions).

"exchange calls" are the calls reaching the market-data adapter (replay here; Coinbase live).
The simulated clock moves 60 s between cycles (the live interval) with a 30 s candle cache, so
every cycle refetches candles: the engine's calls are pairs + 1, the reference's 2 per bot.

Part 2, confirmed signal → acknowledged paper order: each cycle ten more bots get a
confirmed BUY (100 orders a day, the daily trade limit) and place $5 entries through the full
safety path (``TradeService.execute``: audit row, locked
counters, PENDING row committed, paper order acknowledged). Reported per order (decision →
ack, what one order costs) and from the moment the cycle's evaluations are committed (orders of
one cycle are placed one after another, so this includes waiting for the earlier ones).

Part 3, the protection pass (``EvaluationScheduler.protect``): 1,000 bots holding a position
(a quarter each RUNNING-but-not-due, PAUSED, STOPPED and ERROR), every one checked from the
batched best bid each tick (stop-loss, trailing stop, take-profit) and its high-water mark moved.
The bid rises a little every tick, so every bot's high-water mark is written every tick (the
worst case) and no exit fires (the figure is the check, not order placement). The pass keeps
what did not change between ticks (``engine/loop/protection.py``): a tick reads one row per
holding bot and the few unfinished trades, and runs the exact decision only for bots whose bid
is near a level.

Targets: 1,000 bots per cycle < 2 s on one core; signal → ack p99 < 50 ms; calls grow with
pairs, not bots; the protection pass over 1,000 holding bots < 50 ms per tick. Not a test: it
prints figures. Run: ``.venv/bin/python bench/engine.py``
(``--quick`` for 10/100 bots only; ``--database-url postgresql://…`` to run on PostgreSQL).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sqlalchemy as sa  # noqa: E402

from coinpilot.domain.clock import FakeClock  # noqa: E402
from coinpilot.domain.limits import SafetyLimits  # noqa: E402
from coinpilot.domain.signal_config import SignalConfig  # noqa: E402
from coinpilot.domain.types import BotStatus, TradingMode  # noqa: E402
from coinpilot.engine.loop.bot_loop import TradingStep  # noqa: E402
from coinpilot.engine.loop.evaluator import EvaluationService  # noqa: E402
from coinpilot.engine.loop.scheduler import EvaluationScheduler  # noqa: E402
from coinpilot.engine.orders.execution import TradeService  # noqa: E402
from coinpilot.engine.orders.sync import OrderSync  # noqa: E402
from coinpilot.engine.orders.warmup import warm_order_path  # noqa: E402
from coinpilot.engine.risk.control import ControlService  # noqa: E402
from coinpilot.exchange.base import CallCounter, MarketData  # noqa: E402
from coinpilot.exchange.market_cache import CachedMarketData  # noqa: E402
from coinpilot.exchange.paper import PaperExchange  # noqa: E402
from coinpilot.exchange.replay import ReplayMarketData  # noqa: E402
from coinpilot.exchange.synthetic import SyntheticPairs, synthetic_pairs  # noqa: E402
from coinpilot.store.db import make_engine, make_session_factory  # noqa: E402
from coinpilot.store.migrate import upgrade  # noqa: E402
from coinpilot.store.models import Base, Bot, BotRuntime  # noqa: E402
from coinpilot.store.repos.control import new_state_row  # noqa: E402

START = datetime(2018, 6, 1, 12, 0, 30, tzinfo=UTC)  # inside the shipped hourly data
INTERVAL = 60.0
D = Decimal


class Counted:
    """Counts every call that reaches the market-data adapter."""

    def __init__(self, inner: MarketData) -> None:
        self.inner = inner
        self.calls = CallCounter()

    def list_products(self) -> Any:
        self.calls.hit("list_products")
        return self.inner.list_products()

    def get_product(self, pair: str) -> Any:
        self.calls.hit("get_product")
        return self.inner.get_product(pair)

    def get_candles(self, pair: str, granularity: Any, start: datetime, end: datetime) -> Any:
        self.calls.hit("get_candles")
        return self.inner.get_candles(pair, granularity, start, end)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> Any:
        self.calls.hit("get_best_bid_ask")
        return self.inner.get_best_bid_ask(pairs)


def fresh_database(url: str | None, workdir: str) -> str:
    if url is None:
        url = f"sqlite:///{workdir}/bench-{uuid.uuid4().hex[:6]}.db"
        upgrade(url)
        return url
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    with make_session_factory(engine)() as s, s.begin():  # the row a fresh install has
        s.add(new_state_row(datetime(2026, 1, 1, tzinfo=UTC)))
    engine.dispose()
    return url


def add_bots(sf: Any, clock: FakeClock, n: int, **values: Any) -> list[int]:
    now = clock.now()
    ids = []
    with sf() as s, s.begin():
        for pair in synthetic_pairs(n):
            bot = Bot(
                name=f"b-{pair}",
                pair=pair,
                status=values.get("status", BotStatus.RUNNING),
                signal_config=values.get("signal_config", SignalConfig.default().to_dict()),
                buy_threshold=values.get("buy_threshold", 0.9),
                sell_threshold=values.get("sell_threshold", 0.9),
                confirmation_minutes=values.get("confirmation_minutes", 5),
                trade_size_usd=D("5"),
                cooldown_minutes=0,
                max_tranches=values.get("max_tranches", 3),
                strategy=values.get("strategy", {}),
                created_at=now,
                updated_at=now,
            )
            bot.runtime = BotRuntime(consecutive_errors=0)
            s.add(bot)
            s.flush()
            ids.append(bot.id)
    return ids


def cycle_figures(n: int, url: str | None, workdir: str, cycles: int) -> dict[str, float]:
    db = fresh_database(url, workdir)
    engine = make_engine(db)
    sf = make_session_factory(engine)
    clock = FakeClock(START)
    adapter = Counted(SyntheticPairs(ReplayMarketData(clock), n))
    market = CachedMarketData(adapter, clock, ttl_seconds=30)
    ids = add_bots(sf, clock, n)
    evals = EvaluationService(sf, market, clock)
    scheduler = EvaluationScheduler(evals, INTERVAL, market=market)
    scheduler.run_cycle(ids)  # warm-up: first fetches, config parsing, weight caches
    times, calls = [], []
    for _ in range(cycles):
        clock.advance(INTERVAL)
        before = adapter.calls.total
        t0 = time.perf_counter()
        report = scheduler.run_cycle(ids)
        times.append(time.perf_counter() - t0)
        calls.append(adapter.calls.total - before)
        assert report.evaluated == n, report.errors
    # Reference: each bot on its own, no shared cache.
    ref_adapter = Counted(SyntheticPairs(ReplayMarketData(clock), n))
    ref = EvaluationService(sf, ref_adapter, clock)
    clock.advance(INTERVAL)
    t0 = time.perf_counter()
    for b in ids:
        ref.evaluate_bot(b)
    ref_time = time.perf_counter() - t0
    engine.dispose()
    return {
        "cycle": statistics.median(times),
        "calls": statistics.median(calls),
        "ref": ref_time,
        "ref_calls": float(ref_adapter.calls.total),
    }


class GcTimer:
    """Times every garbage collection (``gc.callbacks``): how many per generation, and how long in
    CPU time of this process (the machine may be shared: wall time would count other processes)."""

    def __init__(self) -> None:
        self.by_generation: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.by_generation[info["generation"]].append(time.process_time() - self._started)

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def latency_figures(n_bots: int, url: str | None, workdir: str, days: int, cold: bool) -> dict[str, Any]:
    db = fresh_database(url, workdir)
    engine = make_engine(db)
    sf = make_session_factory(engine)
    clock = FakeClock(START)
    market = CachedMarketData(SyntheticPairs(ReplayMarketData(clock), n_bots * days), clock, ttl_seconds=30)
    exchange = PaperExchange(sf, market, clock, fill_delay_seconds=0, starting_balances={"USD": D("100000")})
    limits = SafetyLimits(
        max_trade_usd=D("25"),
        cooldown_minutes=0,
        max_daily_trades=100,
        max_daily_trades_per_bot=50,
        max_tranches=10,
        max_position_usd_per_bot=D("1000"),
        max_total_exposure_usd=D("5000"),
        min_reserved_balance_usd=D("0"),
    )
    trades = TradeService(sf, exchange, clock, TradingMode.MOCK, limits)
    ControlService(sf, clock, TradingMode.MOCK).enable_trading(actor="bench")
    step = TradingStep(sf, trades, clock)
    sync = OrderSync(sf, exchange, clock, TradingMode.MOCK)
    evals = EvaluationService(sf, market, clock)
    scheduler = EvaluationScheduler(evals, INTERVAL, market=market, trading=step, mode=TradingMode.MOCK)
    buy_always = {
        "rsi": {"weight": 1.0, "oversold": 90.0, "overbought": 99.9},
        "ma_crossover": {"enabled": False},
        "macd": {"enabled": False},
    }
    all_ids = add_bots(
        sf,
        clock,
        n_bots * days,
        signal_config=buy_always,
        buy_threshold=0.01,
        sell_threshold=1.0,
        confirmation_minutes=0,
        max_tranches=10,
        status=BotStatus.STOPPED,
        strategy={"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None},
    )
    if not cold:  # what start-up does before trading is released (runtime/startup.py, cli/server.py)
        warm_order_path(trades, sf, clock)
        gc.collect()
        gc.freeze()
    recorded_at: list[float] = []
    original_record = scheduler._record

    def timed_record(*args: Any, **kwargs: Any) -> Any:
        out = original_record(*args, **kwargs)
        recorded_at.append(time.perf_counter())
        return out

    scheduler._record = timed_record  # type: ignore[method-assign]
    acks: list[tuple[float, float]] = []  # (decision -> ack, commit of the evaluations -> ack)
    original_execute = step.execute

    cpu: list[float] = []  # CPU time of each acknowledged execute (the machine is shared)

    def timed_execute(*args: Any, **kwargs: Any) -> Any:
        c0 = time.process_time()
        out = original_execute(*args, **kwargs)
        trade = out.result.trade if out.result is not None else None
        if trade is not None and trade.status != "PENDING":  # acknowledged by the exchange
            acks.append((out.latency_seconds, time.perf_counter() - recorded_at[-1]))
            cpu.append(time.process_time() - c0)
        return out

    step.execute = timed_execute  # type: ignore[method-assign]
    orders_per_cycle = []
    timer = GcTimer().__enter__()
    batch = 10  # bots whose BUY confirms in the same cycle (the daily limit allows 100 orders)
    for day in range(days):
        # Fresh bots each cycle: a bot's next tranche would wait for a DCA dip, and a realistic
        # cycle confirms a few bots, not all. The daily trade count restarts at 00:00 UTC.
        for c in range(n_bots // batch):
            first = day * n_bots + c * batch
            ids = all_ids[first : first + batch]
            with sf() as s, s.begin():
                s.execute(sa.update(Bot).where(Bot.id.in_(ids)).values(status=BotStatus.RUNNING))
            before = len(acks)
            scheduler.run_cycle(ids)
            orders_per_cycle.append(len(acks) - before)
            clock.advance(1)
            sync.sync_once()  # what the order-sync thread does: fills settle, trades finish
            clock.advance(INTERVAL - 1)
        clock.advance(86_400)
    timer.__exit__()
    gc.unfreeze()  # the other parts of the bench run as before
    engine.dispose()
    own = sorted(a for a, _ in acks)
    queued = sorted(b for _, b in acks)
    by_day = [sorted(a for a, _ in acks[d * n_bots : (d + 1) * n_bots]) for d in range(days)]
    return {
        "orders": len(acks),
        "own": own,
        "queued": queued,
        "per_cycle": orders_per_cycle,
        "by_day": by_day,
        "first": acks[0][0] if acks else float("nan"),  # compiles the statements (per Engine)
        "rest": sorted(a for a, _ in acks[1:]),
        "cpu": sorted(cpu),
        "first_cpu": cpu[0] if cpu else float("nan"),
        "gc": timer.by_generation,
    }


class RisingQuotes:
    """Market data whose bid rises by one cent per quote call (every tick moves every mark)."""

    def __init__(self, inner: MarketData) -> None:
        self.inner = inner
        self.ticks = 0
        self.calls = CallCounter()

    def list_products(self) -> Any:
        return self.inner.list_products()

    def get_product(self, pair: str) -> Any:
        return self.inner.get_product(pair)

    def get_candles(self, pair: str, granularity: Any, start: datetime, end: datetime) -> Any:
        return self.inner.get_candles(pair, granularity, start, end)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> Any:
        from coinpilot.domain.market import BestBidAsk

        self.calls.hit("get_best_bid_ask")
        self.ticks += 1
        bid = D("100") + D("0.01") * self.ticks
        return {p: BestBidAsk(p, bid, bid + D("0.02"), START) for p in pairs}


def protection_figures(
    n: int, url: str | None, workdir: str, ticks: int, cold: bool = False
) -> dict[str, Any]:
    from coinpilot.domain.types import PositionStatus, Side, TradeIntent, TradeStatus
    from coinpilot.store.models import Position, Trade, Tranche

    db = fresh_database(url, workdir)
    engine = make_engine(db)
    sf = make_session_factory(engine)
    clock = FakeClock(START)
    quotes = RisingQuotes(SyntheticPairs(ReplayMarketData(clock), n))
    market = CachedMarketData(quotes, clock, ttl_seconds=30, quote_ttl_seconds=0)
    limits = SafetyLimits(cooldown_minutes=0, min_reserved_balance_usd=D("0"))
    exchange = PaperExchange(sf, market, clock, fill_delay_seconds=0, starting_balances={"USD": D("100000")})
    trades = TradeService(sf, exchange, clock, TradingMode.MOCK, limits)
    step = TradingStep(sf, trades, clock)
    evals = EvaluationService(sf, market, clock)
    scheduler = EvaluationScheduler(evals, INTERVAL, market=market, trading=step, mode=TradingMode.MOCK)
    statuses = (BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.STOPPED, BotStatus.ERROR)
    strategy = {"stop_loss_pct": "5", "trailing_stop_pct": "50", "take_profit_ladder": [["50", "30"]]}
    ids = add_bots(sf, clock, n, strategy=strategy)
    now = clock.now()
    with sf() as s, s.begin():
        for i, bot_id in enumerate(ids):
            bot = s.get(Bot, bot_id)
            bot.status = statuses[i % len(statuses)]
            bot.runtime.next_evaluation_at = datetime(2100, 1, 1, tzinfo=UTC)  # never due: protection only
            buy = Trade(
                bot_id=bot_id,
                mode=TradingMode.MOCK,
                side=Side.BUY,
                intent=TradeIntent.ENTRY,
                pair=bot.pair,
                client_order_id=uuid.uuid4().hex,
                status=TradeStatus.SETTLED,
                requested_quote_size=D("5"),
                filled_base_size=D("0.05"),
                filled_value=D("5"),
                position_applied=True,
                created_at=now,
                updated_at=now,
            )
            pos = Position(
                bot_id=bot_id,
                mode=TradingMode.MOCK,
                pair=bot.pair,
                status=PositionStatus.OPEN,
                base_size=D("0.05"),
                cost=D("5"),
                opened_at=now,
                updated_at=now,
            )
            s.add_all([buy, pos])
            s.flush()
            s.add(
                Tranche(
                    position=pos,
                    trade_id=buy.id,
                    entry_price=D("100"),
                    base_size=D("0.05"),
                    cost=D("5"),
                    fee=D("0"),
                    opened_at=now,
                )
            )
    scheduler.run_once()  # warm-up: configuration cache, product cache
    if not cold:  # what the server does once started (cli/server.py): start-up objects leave the GC
        gc.collect()
        gc.freeze()
    times, cpu = [], []
    for _ in range(ticks):
        clock.advance(1)
        t0, c0 = time.perf_counter(), time.process_time()
        placed = scheduler.protect()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert placed == 0
    gc.unfreeze()
    with sf() as s:
        marks = set(s.scalars(sa.select(BotRuntime.high_water_price)))
    engine.dispose()
    return {
        "times": sorted(times),
        "cpu": sorted(cpu),
        "in_order": times,
        "marks": marks,
        "quote_calls": quotes.calls.total,
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 and 100 bots only, fewer orders")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="orders without the start-up warm-up and gc.freeze (before issue 9)",
    )
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: temp SQLite)")
    args = parser.parse_args(argv)
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    with tempfile.TemporaryDirectory() as workdir:
        where = "PostgreSQL" if args.database_url else "SQLite (file, WAL)"
        print(f"bot loop on the paper exchange, {where}, replayed hourly candles, single-threaded BLAS")
        print(
            f"{'bots':>6} | {'engine cycle':>12} | {'calls/cycle':>11} | {'reference':>10} | "
            f"{'ref calls':>9} | {'x faster':>8} | {'calls ratio':>11}"
        )
        print("-" * 86)
        big = None
        for n in sizes:
            f = cycle_figures(n, args.database_url, workdir, cycles=3)
            print(
                f"{n:>6} | {f['cycle'] * 1000:>9.0f} ms | {f['calls']:>11.0f} | "
                f"{f['ref'] * 1000:>7.0f} ms | {f['ref_calls']:>9.0f} | {f['ref'] / f['cycle']:>7.1f}x | "
                f"{f['ref_calls'] / max(f['calls'], 1):>10.1f}x"
            )
            big = f
        print(
            "engine calls per cycle = one candle fetch per pair + one quote call for all pairs "
            "(products are cached for an hour); the reference makes 2 calls per bot"
        )
        if big is not None and 1000 in sizes:
            verdict = "met" if big["cycle"] < 2.0 else "MISSED"
            print(f"target 1,000 bots per cycle < 2 s on one core: {verdict} ({big['cycle']:.2f} s)")
        days = 2 if args.quick else 5
        lat = latency_figures(100, args.database_url, workdir, days, args.cold)
        own, queued = lat["own"], lat["queued"]
        print(
            f"\nconfirmed signal -> acknowledged paper order: {lat['orders']} entries, one per bot, "
            f"{max(lat['per_cycle'])} bots confirming per cycle (daily trade limit 100):"
        )
        print(
            f"  per order (decision -> ack):         median {statistics.median(own) * 1000:6.1f} ms, "
            f"p99 {pct(own, 99) * 1000:6.1f} ms"
        )
        print(
            f"  from the cycle's commit (queued):    median {statistics.median(queued) * 1000:6.1f} ms, "
            f"p99 {pct(queued, 99) * 1000:6.1f} ms"
        )
        first, last = lat["by_day"][0], lat["by_day"][-1]
        print(
            f"  per order, first day / last day:     median {statistics.median(first) * 1000:6.1f} / "
            f"{statistics.median(last) * 1000:.1f} ms, p99 {pct(first, 99) * 1000:.1f} / "
            f"{pct(last, 99) * 1000:.1f} ms (each synthetic pair is its own paper currency: "
            "get_balances grows with them)"
        )
        print(
            f"  the first order:                     {lat['first'] * 1000:6.1f} ms (cold, it compiles the "
            f"order path's statements; after the warm-up only the paper exchange's own); "
            f"p99 of the others {pct(lat['rest'], 99) * 1000:.1f} ms"
        )
        cpu = lat["cpu"]
        print(
            f"  CPU time of this process per order:  median {statistics.median(cpu) * 1000:6.1f} ms, "
            f"p99 {pct(cpu, 99) * 1000:6.1f} ms, first {lat['first_cpu'] * 1000:.1f} ms "
            f"({'cold: no start-up warm-up' if args.cold else 'after the start-up warm-up and gc.freeze'})"
        )
        gcs = lat["gc"]
        print(
            "  garbage collections while ordering (CPU):  "
            + ", ".join(
                f"gen {g}: {len(ts)} (max {max(ts, default=0) * 1000:.1f} ms, total {sum(ts) * 1000:.0f} ms)"
                for g, ts in gcs.items()
            )
        )
        verdict = "met" if pct(own, 99) < 0.05 else "MISSED"
        print(f"target p99 < 50 ms per order: {verdict}")
        n_protect = 100 if args.quick else 1000
        prot = protection_figures(n_protect, args.database_url, workdir, ticks=30, cold=args.cold)
        times = prot["times"]
        print(
            f"\nprotection pass: {n_protect} bots holding a position (RUNNING not due, PAUSED, STOPPED, "
            f"ERROR), high-water mark moved for every bot every tick, {prot['quote_calls']} quote calls "
            f"for {len(times)} ticks + warm-up:"
        )
        cpu = prot["cpu"]
        print(
            f"  per tick: median {statistics.median(times) * 1000:6.1f} ms, "
            f"p99 {pct(times, 99) * 1000:6.1f} ms, max {times[-1] * 1000:6.1f} ms "
            f"(CPU time of this process: median "
            f"{statistics.median(cpu) * 1000:.1f} ms, p99 {pct(cpu, 99) * 1000:.1f} ms); "
            f"marks now {sorted(prot['marks'])}"
        )
        if n_protect == 1000:
            verdict = "met" if statistics.median(times) < 0.05 else "MISSED"
            print(f"target 1,000 holding bots checked < 50 ms per tick: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
