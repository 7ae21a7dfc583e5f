"""``coinpilot demo``: a self-contained mock-mode demo on shipped real candles.

It uses its own database (``COINPILOT_HOME/demo.db``) so demo bots never mix with yours, always
runs in mock mode, and enables mock trading in that database only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from coinpilot.cli.common import CliError, console, settings_or_exit
from coinpilot.domain.types import Granularity, TradingMode

# Simulated start of the demo (inside the shipped hourly data, with 300+ hours of history for the
# indicators). Tuned from here: at 1800x and one evaluation per real second (30 simulated
# minutes) both bots enter after about 16 seconds (2017-07-14 14:00),
# add DCA tranches on dips, take partial profits on the ladder and get stopped out within a few
# minutes. Thresholds are low because hourly scores of the default signals rarely exceed 0.3.
DEMO_REPLAY_START = "2017-07-14T06:00:00+00:00"
DEMO_BOTS: list[dict[str, Any]] = [
    {
        "name": "btc-demo",
        "pair": "BTC-USD",
        "description": "Demo bot on replayed Coinbase BTC-USD hourly candles: fixed $20 tranches",
        "buy_threshold": 0.12,
        "sell_threshold": 0.2,
        "trade_size_usd": Decimal("20"),
        "stop_loss_pct": Decimal("4"),
        "strategy": {
            "sizing": "fixed",
            "dca_step_pct": "1.5",
            "take_profit_ladder": [["3", "30"], ["6", "50"]],
            "stop_loss_pct": "4",
        },
    },
    {
        "name": "eth-demo",
        "pair": "ETH-USD",
        "description": "Demo bot on replayed Coinbase ETH-USD hourly candles: pyramid tranches",
        "buy_threshold": 0.12,
        "sell_threshold": 0.2,
        "trade_size_usd": Decimal("25"),
        "stop_loss_pct": Decimal("5"),
        "strategy": {
            "sizing": "pyramid",
            "pyramid_factor": "0.6",
            "dca_step_pct": "2",
            "take_profit_ladder": [["4", "30"], ["8", "50"]],
            "stop_loss_pct": "5",
            "trailing_stop_pct": "4",
        },
    },
]


def demo_bot_values(
    name: str,
    pair: str,
    description: str,
    buy_threshold: float = 0.12,
    sell_threshold: float = 0.2,
    trade_size_usd: Decimal = Decimal("20"),
    stop_loss_pct: Decimal | None = None,
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from coinpilot.domain.signal_config import SignalConfig

    return {
        "name": name,
        "pair": pair,
        "description": description,
        "granularity": Granularity.ONE_HOUR,
        "signal_config": SignalConfig.default().to_dict(),
        "buy_threshold": buy_threshold,
        "sell_threshold": sell_threshold,
        "confirmation_minutes": 60,
        "trade_size_usd": trade_size_usd,
        "cooldown_minutes": 60,
        "max_tranches": 3,
        "stop_loss_pct": stop_loss_pct,
        "take_profit_pct": None,
        "strategy": strategy or {},
    }


def run_demo(overrides: dict[str, Any], speed: float, fresh: bool, expose: bool = False) -> None:
    import os

    from coinpilot.cli.server import check_bind_address, ensure_port_free, run_server
    from coinpilot.domain.types import BotStatus
    from coinpilot.services import build_services
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.db import session_scope

    if os.environ.get("COINPILOT_TRADING_MODE", "mock").lower() == TradingMode.PRODUCTION.value:
        raise CliError("the demo always runs in mock mode: unset COINPILOT_TRADING_MODE to run it")
    base = settings_or_exit(**overrides)
    db_path = base.home / "demo.db"
    settings = settings_or_exit(
        **overrides,
        trading_mode=TradingMode.MOCK,
        market_data="replay",
        replay_speed=speed,
        replay_start=base.replay_start or DEMO_REPLAY_START,
        database_url=f"sqlite:///{db_path}",
        engine_interval_seconds=1.0,
        candle_cache_ttl_seconds=0.5,
        paper_fill_delay_seconds=0.2,
    )
    check_bind_address(settings, expose)
    ensure_port_free(settings.host, settings.port)
    from coinpilot.exchange.replay import replay_clock
    from coinpilot.services import replay_anchor_path, shared_replay_clock

    if fresh:
        for p in [db_path.with_name(db_path.name + s) for s in ("", "-wal", "-shm")] + [
            replay_anchor_path(settings)
        ]:
            if p.exists():
                p.unlink()
    resume_at = None if fresh else where_the_demo_stopped(settings.resolved_database_url)
    try:
        clock = shared_replay_clock(settings, replay_clock, restart_at=resume_at)
    except ValueError as exc:  # past the end of the shipped data
        raise CliError(f"cannot continue the demo: {exc}; run it without --no-fresh") from None
    services = build_services(settings, clock=clock)
    now = services.clock.now()
    with session_scope(services.sessions) as s:
        for spec in DEMO_BOTS:
            # A live demo bot only: an archived one of the same name never runs again.
            bot = bot_repo.get_bot_by_name_or_id(s, spec["name"], include_archived=False)
            if bot is None:
                bot = bot_repo.create_bot(s, demo_bot_values(**spec), now)
            bot_repo.set_status(s, bot, BotStatus.RUNNING, now)
    _enable_mock_trading(services)
    console.print(
        f"demo: {len(DEMO_BOTS)} bots on replayed Coinbase candles, simulated time starts "
        f"{now:%Y-%m-%d %H:%M} UTC and runs {speed:g}x faster than real time"
    )
    run_server(settings, services=services, with_engine=True, expose=expose)


def where_the_demo_stopped(database_url: str) -> Any:
    """The latest simulated time recorded in the demo's database (an evaluation, a trade, a bot
    change), or None for an empty or missing database. ``--no-fresh`` continues from here, so old
    trades stay in their own simulated day instead of being counted as today."""
    import sqlalchemy as sa

    from coinpilot.store.backup import sqlite_path
    from coinpilot.store.db import make_engine
    from coinpilot.store.migrate import upgrade
    from coinpilot.store.models import Bot, BotRuntime, Evaluation, Trade

    path = sqlite_path(database_url)
    if path is None or not path.exists():
        return None
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            times = [
                conn.execute(sa.select(sa.func.max(column))).scalar()
                for column in (
                    Evaluation.evaluated_at,
                    BotRuntime.last_evaluated_at,
                    Trade.updated_at,
                    Bot.updated_at,
                )
            ]
    finally:
        engine.dispose()
    found = [t for t in times if t is not None]
    return max(found) if found else None


def _enable_mock_trading(services: Any) -> None:
    services.control.enable_trading(actor="demo", production_ready=False)
