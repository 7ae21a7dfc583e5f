"""``coinpilot worker``: the bot engine without HTTP, for sharing bots across processes.

Several workers (and ``coinpilot serve``) can run against one PostgreSQL database: each bot is
evaluated by exactly one of them at a time through leases (see ``coinpilot.engine.cluster.leases``);
a worker that dies hands its bots to the others within a few seconds. SQLite serves a single
process, so the worker refuses it: use ``coinpilot serve`` there.

SIGTERM / SIGINT stop the worker gracefully: it finishes the current cycle and gives its leases
back so the other workers take over at once.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from coinpilot.cli.common import CliError, console, one_line_errors, settings_or_exit
from coinpilot.private_files import make_private_dir


def run_worker(worker_id: str | None, synthetic_pairs: int) -> None:
    from coinpilot.domain.types import TradingMode
    from coinpilot.runtime.background import start_engine
    from coinpilot.services import build_market, build_services
    from coinpilot.store.db import describe_url

    settings = settings_or_exit()
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        raise CliError(
            "coinpilot worker needs PostgreSQL (COINPILOT_DATABASE_URL=postgresql://…): SQLite "
            "serves one process, so run the engine inside 'coinpilot serve' instead"
        )
    make_private_dir(settings.home)
    from coinpilot.logs import configure_logging

    configure_logging(settings, log_file="worker.log")
    kwargs: dict[str, Any] = {}
    if synthetic_pairs:
        if settings.trading_mode == TradingMode.PRODUCTION or settings.market_data != "replay":
            raise CliError("--synthetic-pairs is for mock mode on replayed data only")
        from coinpilot.exchange.market_cache import CachedMarketData
        from coinpilot.exchange.synthetic import SyntheticPairs

        inner, clock = build_market(settings, None)
        kwargs["clock"] = clock
        kwargs["market"] = CachedMarketData(
            SyntheticPairs(inner, synthetic_pairs), clock, ttl_seconds=settings.candle_cache_ttl_seconds
        )
    services = build_services(settings, **kwargs)
    stop_event = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stop = start_engine(services, worker_id=worker_id)
    console.print(
        f"worker running: {services.mode.value} mode, database {describe_url(url)}, "
        f"every {settings.engine_interval_seconds:g} s"
    )
    try:
        stop_event.wait()
    finally:
        stop()
        services.close()


def register(app: typer.Typer) -> None:
    @app.command()
    @one_line_errors
    def worker(
        worker_id: Annotated[
            str | None, typer.Option("--id", help="worker name in worker_leases (default host-pid-random)")
        ] = None,
        synthetic_pairs: Annotated[
            int,
            typer.Option(
                "--synthetic-pairs",
                min=0,
                max=5000,
                help="TESTS/BENCHMARKS ONLY: add N synthetic replay pairs (BTC1-USD, ETH2-USD, …)",
            ),
        ] = 0,
    ) -> None:
        """Run the bot engine without HTTP; several workers share the bots (PostgreSQL)."""
        run_worker(worker_id, synthetic_pairs)
