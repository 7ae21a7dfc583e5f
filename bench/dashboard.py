"""Benchmark: the dashboard's reads under many pollers, with 200 bots and 50,000 trades.

It fills a scratch database (``coinpilot.testing.dashboard_seed``: 200 bots, each holding a
position, 50,000 settled trades with fills), starts the real app (``create_app``, no engine) in
a separate process on 127.0.0.1, and runs three phases of 50 concurrent pollers each:

* ``/health`` (the reference: the same server, no database work),
* the overview (``GET /api/v1/bots/status/summary``, what every open dashboard polls),
* a bot page's data (``GET /api/v1/bots/{id}/page``, a random bot per request).

Each poller sends a request, waits for the answer, then waits ``--interval`` seconds (default
1 s: fifty dashboards each polling five times faster than the real 5 s; ``--interval 0`` is a
closed loop, which measures throughput and queueing rather than the cost of one request).
It prints median and p99 latency per phase and the ratio to ``/health``, and the number of SQL
statements one overview costs at 10, 100 and 200 bots (target: the same at every size).
Targets: overview p99 under 50 ms, a bot page's data p99 under 100 ms. Not a test: it prints
figures, with the shared overview's age (``X-Answer-Age-Seconds``) as the pollers saw it.

Run: ``.venv/bin/python bench/dashboard.py [--bots 200] [--trades 50000] [--pollers 50]
[--seconds 10] [--interval 1] [--database URL]``. A PostgreSQL URL must name a scratch
database: the bench migrates it and fills it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

TOKEN = "bench-token-0123456789abcdef-0123456789abcdef"


def serve(database: str, home: str, port: int) -> None:
    """Server mode (a child process): the app alone, in mock mode, no engine threads."""
    import uvicorn

    from coinpilot.api.app import create_app
    from coinpilot.config import Settings

    settings = Settings(home=Path(home), database_url=database, api_token=TOKEN)
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=60,  # pollers keep their connection, like browsers
    )


def seed(url: str, bots: int, trades: int) -> list[int]:
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.migrate import upgrade
    from coinpilot.testing.dashboard_seed import seed_dashboard

    upgrade(url)
    engine = make_engine(url)
    try:
        now = datetime.now(UTC)
        return seed_dashboard(make_session_factory(engine), now, bots=bots, trades=trades)
    finally:
        engine.dispose()


def statements_per_overview(sizes: list[int]) -> dict[int, int]:
    """SQL statements of one overview at each number of bots (fresh SQLite databases)."""
    from coinpilot.domain.limits import SafetyLimits
    from coinpilot.domain.safety import day_start
    from coinpilot.domain.types import TradingMode
    from coinpilot.store.db import make_engine, make_session_factory
    from coinpilot.store.migrate import upgrade
    from coinpilot.testing.dashboard_seed import seed_dashboard
    from coinpilot.views.overview import build_overview

    out = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/count.db"
            upgrade(url)
            engine = make_engine(url)
            sessions = make_session_factory(engine)
            now = datetime.now(UTC)
            seed_dashboard(sessions, now, bots=n, trades=n * 20)
            seen: list[str] = []
            sa.event.listen(engine, "before_cursor_execute", lambda *a, seen=seen: seen.append(a[2]))
            with sessions() as s:
                build_overview(s, now, TradingMode.MOCK, SafetyLimits(), day_start(now), timedelta(minutes=3))
            out[n] = sum(1 for q in seen if not q.lstrip().upper().startswith(("PRAGMA", "SAVEPOINT")))
            engine.dispose()
    return out


async def poll_phase(
    base: str,
    paths: list[str],
    pollers: int,
    seconds: float,
    interval: float,
    ages: list[tuple[float, bool]] | None = None,
) -> tuple[list[float], int]:
    """``pollers`` clients polling for ``seconds``; returns latencies (ms) and error count (and
    appends each shared answer's age and staleness to ``ages``, from its headers)."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=pollers, max_keepalive_connections=pollers)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        deadline = time.monotonic() + seconds

        async def poller(k: int) -> None:
            nonlocal errors
            rng = random.Random(k)
            await asyncio.sleep(interval * k / pollers)  # staggered, like dashboards opened apart
            while time.monotonic() < deadline:
                path = rng.choice(paths)
                t0 = time.perf_counter()
                try:
                    resp = await client.get(path)
                except httpx.TransportError:  # counted, not fatal: the figures say how many
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200:
                    errors += 1
                elif ages is not None and "x-answer-age-seconds" in resp.headers:
                    ages.append(
                        (
                            float(resp.headers["x-answer-age-seconds"]),
                            resp.headers["x-answer-stale"] == "true",
                        )
                    )
                if interval:
                    await asyncio.sleep(interval)

        await asyncio.gather(*(poller(k) for k in range(pollers)))
    return latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bots", type=int, default=200)
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds each poller waits between polls")
    parser.add_argument("--database", help="scratch database URL (default: a temporary SQLite file)")
    parser.add_argument("--serve", nargs=3, metavar=("URL", "HOME", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return

    tmp = tempfile.TemporaryDirectory()
    url = args.database or f"sqlite:///{tmp.name}/dashboard.db"
    t0 = time.perf_counter()
    bot_ids = seed(url, args.bots, args.trades)
    print(
        f"database: {url.split('@')[-1]} with {args.bots} bots and ~{args.trades} trades "
        f"(seeded in {time.perf_counter() - t0:.1f} s)"
    )

    port = free_port()
    home = Path(tmp.name) / "home"
    home.mkdir()
    env = {**os.environ, "COINPILOT_UNDER_TEST": "1"}
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(home), str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        phases = [
            ("/health", ["/health"]),
            ("overview", ["/api/v1/bots/status/summary"]),
            ("bot page data", [f"/api/v1/bots/{b}/page" for b in bot_ids]),
        ]
        print(f"{args.pollers} pollers, {args.seconds:g} s per phase, {args.interval:g} s between polls each")
        results = {}
        ages: list[tuple[float, bool]] = []
        for name, paths in phases:
            asyncio.run(poll_phase(base, paths[:1], 5, 1.0, 0))  # warm-up, not measured
            lat, errors = asyncio.run(
                poll_phase(
                    base,
                    paths,
                    args.pollers,
                    args.seconds,
                    args.interval,
                    ages if name == "overview" else None,
                )
            )
            results[name] = lat
            print(
                f"  {name:<14} n={len(lat):>6}  median {statistics.median(lat):7.2f} ms  "
                f"p99 {pct(lat, 0.99):7.2f} ms  errors {errors}"
            )
        ref = statistics.median(results["/health"])
        for name in ("overview", "bot page data"):
            print(f"  {name} median = {statistics.median(results[name]) / ref:.1f}x /health")
        if ages:
            fresh = [a for a, stale in ages if not stale]
            print(
                f"  overview answer age: median {statistics.median(a for a, _ in ages):.2f} s, "
                f"max fresh {max(fresh, default=0):.2f} s, "
                f"served stale {sum(1 for _, st in ages if st)} of {len(ages)}"
            )
        target = pct(results["overview"], 0.99) < 50
        print(f"  target overview p99 < 50 ms: {'met' if target else 'NOT met'}")
        page_target = pct(results["bot page data"], 0.99) < 100
        print(f"  target bot page data p99 < 100 ms: {'met' if page_target else 'NOT met'}")
    finally:
        server.terminate()
        server.wait(timeout=15)

    counts = statements_per_overview([10, 100, args.bots])
    print("SQL statements per overview: " + ", ".join(f"{n} bots: {c}" for n, c in counts.items()))
    tmp.cleanup()


if __name__ == "__main__":
    main()
