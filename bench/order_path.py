"""Benchmark: the in-process order path on the paper exchange, for 1,000 orders.

For each order it measures
* **ack latency**: from an accepted ``TradeService.execute`` call to the order acknowledged by the
  paper exchange and recorded OPEN (safety check + audit + PENDING row committed + order + ack);
* **fill detection**: from the acknowledgement to the trade SETTLED by one order-sync pass
  (``OrderSync.sync_trade``: order look-up, fills, position update). In the running server the
  sync thread polls every ``sync_interval_seconds`` (default 0.5 s), so a fill is reflected within
  that interval plus this figure.

Reference measured in the same run: the bare paper exchange (``place_market_order`` alone, no
safety, no trade row), so the ratio shows what the crash-safe bookkeeping costs.
Target: p99 ack latency under 20 ms. Not a test: it prints figures.
Run: ``.venv/bin/python bench/order_path.py [--orders N] [--repeat R] [--warmup W] [--database URL]``.
``--history N`` first writes N past round trips (buy and sell trades with their fills, closed
tranches and audit rows, spread over the year before the run) straight into the database, so
the figures are those of an installation with a long history, not an empty one.
``--warmup`` orders run first and are not measured (compiled-statement caches, prepared
statements); ``--repeat`` measures R batches of N orders one after another (the tables keep
growing) and reports each batch and the median over batches, so one noisy batch on a shared
machine is visible as such. A PostgreSQL URL must name a scratch database: the bench migrates it
and fills it with bots and trades.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from coinpilot.config import Settings
from coinpilot.domain.clock import FakeClock
from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.market import BestBidAsk, Candles, Product
from coinpilot.domain.types import Granularity, Side, TradeIntent, TradeStatus
from coinpilot.exchange.paper import PaperExchange
from coinpilot.services import Services, build_services
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import session_scope
from coinpilot.store.models import Fill, SafetyAudit, Trade, Tranche
from coinpilot.store.repos import positions as position_repo

PAIRS = [f"B{i:02d}-USD" for i in range(20)]


class StaticMarket:
    """A market with fixed prices for synthetic pairs: the bench measures bookkeeping, not data."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.prices = {p: Decimal("100") for p in PAIRS}

    def bump(self, pair: str) -> None:
        """Raise a pair's price 2% so every round trip wins (no loss protection kicks in)."""
        self.prices[pair] = (self.prices[pair] * Decimal("1.02")).quantize(Decimal("0.01"))

    def _product(self, pair: str) -> Product:
        return Product(
            product_id=pair,
            base_currency=pair.split("-")[0],
            quote_currency="USD",
            base_increment=Decimal("0.00000001"),
            quote_increment=Decimal("0.01"),
            base_min_size=Decimal("0.00000001"),
            quote_min_size=Decimal("1"),
            price=Decimal("100"),
        )

    def list_products(self) -> list[Product]:
        return [self._product(p) for p in PAIRS]

    def get_product(self, pair: str) -> Product:
        return self._product(pair)

    def get_candles(self, pair: str, granularity: Granularity, start: datetime, end: datetime) -> Candles:
        return Candles.empty(pair, granularity)

    def get_best_bid_ask(self, pairs: Sequence[str]) -> dict[str, BestBidAsk]:
        now = self._clock.now()
        return {
            p: BestBidAsk(p, self.prices[p] - Decimal("0.01"), self.prices[p] + Decimal("0.01"), now)
            for p in pairs
        }


def seed_history(services: Services, bot_ids: list[int], round_trips: int, before: datetime) -> None:
    """Write ``round_trips`` settled buy+sell pairs per the bench's bots, ending at ``before``."""
    rng = random.Random(7)
    mode = services.mode
    done = 0
    with session_scope(services.sessions) as s:
        positions = {
            b: position_repo.ensure_position(s, b, PAIRS[i], mode, before).id for i, b in enumerate(bot_ids)
        }
    while done < round_trips:
        chunk = min(2000, round_trips - done)
        trades: list[dict[str, object]] = []
        for k in range(done, done + chunk):
            i = k % len(bot_ids)
            at = before - timedelta(minutes=10 * (round_trips - k) + 5)
            buy_value, base = Decimal("9.94"), Decimal("0.0994")
            pnl = Decimal(rng.randint(-40, 60)) / 100
            if k >= round_trips - 5 * len(bot_ids):  # end on wins: no loss streak carried in
                pnl = abs(pnl) + Decimal("0.01")
            common = {
                "bot_id": bot_ids[i],
                "mode": mode,
                "intent": TradeIntent.MANUAL,
                "pair": PAIRS[i],
                "status": TradeStatus.SETTLED,
                "filled_base_size": base,
                "position_applied": True,
                "sync_attempts": 0,
                "status_history": [],
            }
            for side, t, extra in (
                (
                    Side.BUY,
                    at,
                    {
                        "requested_quote_size": Decimal("10"),
                        "requested_base_size": None,
                        "filled_value": buy_value,
                        "realized_pnl": None,
                    },
                ),
                (
                    Side.SELL,
                    at + timedelta(minutes=5),
                    {
                        "requested_quote_size": None,
                        "requested_base_size": base,
                        "filled_value": buy_value + pnl,
                        "realized_pnl": pnl,
                    },
                ),
            ):
                trades.append(
                    {
                        **common,
                        **extra,
                        "side": side,
                        "client_order_id": str(uuid.uuid4()),
                        "order_id": str(uuid.uuid4()),
                        "average_fill_price": Decimal("100"),
                        "fees": Decimal("0.06"),
                        "created_at": t,
                        "opened_at": t,
                        "filled_at": t,
                        "settled_at": t,
                        "updated_at": t,
                        "last_fill_at": t,
                        "realized_at": t if side is Side.SELL else None,
                    }
                )
        with session_scope(services.sessions) as s:
            conn = s.connection()
            conn.execute(
                sa.insert(SafetyAudit),
                [
                    {
                        "created_at": t["created_at"],
                        "mode": mode,
                        "bot_id": t["bot_id"],
                        "side": t["side"],
                        "intent": t["intent"],
                        "allowed": True,
                        "reasons": [],
                        "request": {},
                        "inputs": {},
                    }
                    for t in trades
                ],
            )
            ids = (
                conn.execute(sa.insert(Trade).returning(Trade.id, sort_by_parameter_order=True), trades)
                .scalars()
                .all()
            )
            conn.execute(
                sa.insert(Fill),
                [
                    {
                        "trade_id": tid,
                        "fill_id": str(uuid.uuid4()),
                        "price": Decimal("100"),
                        "base_size": t["filled_base_size"],
                        "fee": Decimal("0.06"),
                        "liquidity": "TAKER",
                        "time": t["created_at"],
                    }
                    for tid, t in zip(ids, trades, strict=True)
                ],
            )
            conn.execute(
                sa.insert(Tranche),
                [
                    {
                        "position_id": positions[int(str(t["bot_id"]))],
                        "trade_id": tid,
                        "entry_price": Decimal("100"),
                        "base_size": t["filled_base_size"],
                        "cost": Decimal("10"),
                        "fee": Decimal("0.06"),
                        "opened_at": t["created_at"],
                        "closed_at": t["created_at"] + timedelta(minutes=5),  # type: ignore[operator]
                    }
                    for tid, t in zip(ids, trades, strict=True)
                    if t["side"] is Side.BUY
                ],
            )
        done += chunk
        progress(done, round_trips, "history")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / total)
    sys.stdout.write(f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stdout.flush()
    if done == total:
        sys.stdout.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000, help="orders per measured batch")
    parser.add_argument("--repeat", type=int, default=1, help="measured batches (median reported)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured orders first")
    parser.add_argument(
        "--history", type=int, default=0, help="past round trips written before measuring (e.g. 50000)"
    )
    parser.add_argument("--database", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="coinpilot-bench-"))
    url = args.database or f"sqlite:///{tmp / 'bench.db'}"
    settings = Settings(
        home=tmp,
        database_url=url,
        api_token="bench-token-0123456789-abcdefghijklmnop",
        paper_fill_delay_seconds=0,
        paper_starting_usd=Decimal("100000000"),
        limits={
            "max_trade_usd": "100",
            "max_daily_trades": 100,
            "max_daily_trades_per_bot": 50,
            "cooldown_minutes": 0,
            "max_position_usd_per_bot": "1000",
            "max_total_exposure_usd": "5000",
            "min_reserved_balance_usd": "0",
        },
    )
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    market = StaticMarket(clock)
    services = build_services(settings, clock=clock, market=market)
    services.control.enable_trading("bench")
    with session_scope(services.sessions) as s:
        bot_ids = []
        for pair in PAIRS:
            bot = bot_repo.create_bot(
                s,
                {
                    "name": pair.lower(),
                    "pair": pair,
                    "signal_config": {},
                    "buy_threshold": 0.5,
                    "sell_threshold": 0.5,
                    "confirmation_minutes": 0,
                    "trade_size_usd": Decimal("10"),
                    "cooldown_minutes": 0,
                    "max_tranches": 3,
                    "strategy": {},
                },
                clock.now(),
            )
            bot_ids.append(bot.id)
    if args.history:
        seed_history(services, bot_ids, args.history, clock.now())
    print(f"database: {url}" + (f" with {args.history} past round trips" if args.history else ""))
    print(
        f"orders: {args.repeat} x {args.orders} (+{args.warmup} warm-up) over {len(PAIRS)} bots"
        " (buy then sell, limits reset daily by the fake clock)"
    )

    holdings: dict[int, Decimal] = {}
    counter = [0]

    def one_order() -> tuple[float, float]:
        """(ack ms, fill detection ms) of the next order: a buy, or a sell of what the bot holds."""
        i = counter[0]
        counter[0] += 1
        if i and i % 90 == 0:
            clock.advance(timedelta(days=1).total_seconds())  # a new trading day for the daily caps
        bot_id = bot_ids[i % len(bot_ids)]
        held = holdings.get(bot_id, Decimal(0))
        t0 = time.perf_counter()
        if held > 0:
            market.bump(PAIRS[i % len(PAIRS)])
            result = services.trades.execute(bot_id, Side.SELL, base_size=held)
        else:
            result = services.trades.execute(bot_id, Side.BUY, quote_size=Decimal("10"))
        t1 = time.perf_counter()
        if not result.allowed or result.trade is None:
            raise SystemExit(f"order {i} refused: {result.decision['reasons']}")
        services.sync.sync_trade(result.trade.id)
        t2 = time.perf_counter()
        trade = services.trades.get_trade(result.trade.id)
        assert trade is not None and trade.status == "SETTLED", trade
        holdings[bot_id] = trade.filled_base_size if trade.side == "buy" else Decimal(0)
        return (t1 - t0) * 1000, (t2 - t1) * 1000

    for _ in range(args.warmup):
        one_order()
    # As `coinpilot serve` does after start-up: long-lived objects leave the collector's scans.
    gc.collect()
    gc.freeze()
    batches: list[tuple[list[float], list[float]]] = []
    for r in range(args.repeat):
        ack: list[float] = []
        detect: list[float] = []
        label = "full path" if args.repeat == 1 else f"full path {r + 1}/{args.repeat}"
        for i in range(args.orders):
            a, d = one_order()
            ack.append(a)
            detect.append(d)
            if (i + 1) % 50 == 0 or i + 1 == args.orders:
                progress(i + 1, args.orders, label)
        batches.append((ack, detect))

    paper = PaperExchange(services.sessions, market, clock, fill_delay_seconds=0)
    bare: list[float] = []
    for i in range(args.orders):
        req = OrderRequest(str(uuid.uuid4()), PAIRS[i % len(PAIRS)], Side.BUY, quote_size=Decimal("10"))
        t0 = time.perf_counter()
        paper.place_market_order(req)
        bare.append((time.perf_counter() - t0) * 1000)
        if (i + 1) % 50 == 0 or i + 1 == args.orders:
            progress(i + 1, args.orders, "reference")

    def row(name: str, xs: list[float]) -> str:
        return f"  {name:<34} median {statistics.median(xs):7.2f} ms   p99 {pct(xs, 0.99):7.2f} ms"

    print("\nresults")
    if args.repeat > 1:
        for r, (ack, detect) in enumerate(batches, 1):
            print(
                f"  batch {r}: ack median {statistics.median(ack):6.2f} p99 {pct(ack, 0.99):6.2f} ms;"
                f" detection median {statistics.median(detect):6.2f} p99 {pct(detect, 0.99):6.2f} ms"
            )
        print(f"  over {args.repeat} batches of {args.orders}: median of the batch figures")
    ack_med = statistics.median(statistics.median(a) for a, _ in batches)
    ack_p99 = statistics.median(pct(a, 0.99) for a, _ in batches)
    det_med = statistics.median(statistics.median(d) for _, d in batches)
    det_p99 = statistics.median(pct(d, 0.99) for _, d in batches)
    print(f"  {'execute -> acknowledged (OPEN)':<34} median {ack_med:7.2f} ms   p99 {ack_p99:7.2f} ms")
    print(f"  {'ack -> fill detected (SETTLED)':<34} median {det_med:7.2f} ms   p99 {det_p99:7.2f} ms")
    print(row("reference: bare paper order", bare))
    print(f"  ratio full path / reference (median): {ack_med / statistics.median(bare):.1f}x")
    print(f"  target p99 ack < 20 ms: {'met' if ack_p99 < 20 else 'MISSED'}")
    print(
        f"  worst-case fill reflection in the server: sync interval {settings.sync_interval_seconds}s"
        f" + {det_p99:.1f} ms"
    )
    services.close()


if __name__ == "__main__":
    main()
