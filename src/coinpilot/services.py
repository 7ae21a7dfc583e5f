"""Composition root: builds the clock, database, market data, exchange and engine services
from :class:`Settings`. The only place that decides which adapter runs in which mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.alerts.dispatch import AlertDispatcher, apprise_sender
from coinpilot.config import Settings, running_under_test
from coinpilot.domain.clock import Clock, SystemClock
from coinpilot.domain.types import TradingMode
from coinpilot.engine.loop.evaluator import EvaluationService
from coinpilot.engine.orders.execution import TradeService
from coinpilot.engine.orders.sync import OrderSync
from coinpilot.engine.risk.control import ControlService
from coinpilot.engine.risk.escalation import EscalationService
from coinpilot.engine.risk.loss_breaker import DailyLossBreaker
from coinpilot.exchange.base import Exchange, MarketData
from coinpilot.private_files import make_private_dir
from coinpilot.store.db import WalCheckpointer, describe_url, make_engine, make_session_factory
from coinpilot.store.migrate import upgrade
from coinpilot.telemetry import Telemetry

log = logging.getLogger("coinpilot")


class StartupError(Exception):
    """Coinpilot cannot start as configured; the message says what to change."""


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    market: MarketData
    exchange: Exchange
    evaluations: EvaluationService
    trades: TradeService
    control: ControlService
    sync: OrderSync
    extras: dict[str, Any] = field(default_factory=dict)
    escalation: EscalationService | None = None  # gradual risk escalation (production only)
    alerts: AlertDispatcher | None = None  # None: no alert URLs configured
    telemetry: Telemetry = field(default_factory=Telemetry)
    # Set once start-up reconciliation has brought every unfinished trade up to date (/ready).
    reconciled: bool = False
    loss_breaker: DailyLossBreaker | None = None  # after every settlement and every engine tick
    # While start-up reconciliation runs: "reconciling n trades ..." (shown; trading is held).
    reconciling: str | None = None

    @property
    def mode(self) -> TradingMode:
        return self.settings.trading_mode

    def close(self) -> None:
        if self.alerts is not None:
            self.alerts.stop()
        checkpointer = self.extras.pop("wal_checkpointer", None)
        if checkpointer is not None:
            checkpointer.stop()
        self.engine.dispose()


def check_production_allowed(settings: Settings) -> None:
    if settings.trading_mode != TradingMode.PRODUCTION:
        return
    if not settings.has_coinbase_keys():
        raise StartupError(
            "production mode needs Coinbase API keys: set COINPILOT_COINBASE_API_KEY and "
            "COINPILOT_COINBASE_API_SECRET (or COINPILOT_COINBASE_KEY_FILE), or use "
            "COINPILOT_TRADING_MODE=mock"
        )
    if running_under_test() and not settings.coinbase_is_loopback():
        raise StartupError(
            "refusing production mode under test: COINPILOT_COINBASE_BASE_URL must be a "
            "loopback stand-in (127.0.0.1:PORT)"
        )


def build_market(settings: Settings, clock: Clock | None) -> tuple[MarketData, Clock]:
    if settings.trading_mode == TradingMode.PRODUCTION or settings.market_data == "coinbase":
        from coinpilot.exchange.coinbase import CoinbaseExchange

        clock = clock or SystemClock()
        # The adapter's clock decides which candles have closed: it must be the injected one.
        return CoinbaseExchange.from_settings(settings, clock=clock), clock
    from coinpilot.exchange.replay import ReplayMarketData, replay_clock
    from coinpilot.exchange.replay_today import ReplayOnWallClock, ReplayWallClock

    if clock is None:
        clock = shared_replay_clock(settings, replay_clock)
    if isinstance(clock, ReplayWallClock):
        return ReplayOnWallClock(clock, clock.offset), clock
    return ReplayMarketData(clock), clock


REPLAY_ANCHOR_FILE = "replay-clock.json"  # the prefix; one anchor per database (see below)


def replay_anchor_path(settings: Settings) -> Path:
    """Where the replay clock of this database is pinned: one file per database, because the
    demo (``demo.db``, 1,800x) and a plain ``serve`` (``coinpilot.db``) share a home but not a
    clock, and a CLI command must read the clock of the database it opens."""
    import hashlib

    digest = hashlib.sha256(settings.resolved_database_url.encode()).hexdigest()[:12]
    return settings.home / f"{REPLAY_ANCHOR_FILE.removesuffix('.json')}-{digest}.json"


def shared_replay_clock(settings: Settings, factory: Any, restart_at: datetime | None = None) -> Clock:
    """The replay clock every process on this database shares (server, CLI, workers).

    The first process pins simulated start, speed and wall-clock anchor; later ones adopt them
    unless their settings *explicitly* ask for another start or speed (a CLI command beside the
    1,800x demo adopts the demo's clock, so its evaluation is dated in the demo's present, not in
    2017). ``restart_at`` re-pins the clock to continue from that simulated time now (the demo's
    ``--no-fresh``: where it stopped, neither rewound nor jumped ahead by the time it was off).
    """
    import json

    from coinpilot.domain.clock import AcceleratedClock

    path = replay_anchor_path(settings)
    start = None
    if settings.replay_start:
        start = datetime.fromisoformat(settings.replay_start)
        if start.tzinfo is None:  # a bare date/time in settings means UTC
            start = start.replace(tzinfo=UTC)
    from coinpilot.exchange.replay_today import ReplayWallClock, offset_days_for

    explicit_speed = "replay_speed" in settings.model_fields_set
    if restart_at is None:
        try:
            saved = json.loads(path.read_text())
            if saved.get("kind") == "wall":  # history moved to the present, at real speed
                if start is None and (not explicit_speed or settings.replay_speed == 1.0):
                    return ReplayWallClock(int(saved["offset_days"]))
            else:
                same_speed = saved["speed"] == settings.replay_speed or not explicit_speed
                if same_speed and (start is None or saved["start"] == start.isoformat()):
                    return AcceleratedClock(
                        datetime.fromisoformat(saved["start"]), saved["speed"], saved["wall_anchor"]
                    )
        except (OSError, ValueError, KeyError):
            pass
    make_private_dir(settings.home)
    if restart_at is None and start is None and settings.replay_speed == 1.0:
        wall = ReplayWallClock(offset_days_for(SystemClock().now()))
        path.write_text(json.dumps({"kind": "wall", "offset_days": wall.offset_days}))
        return wall
    clock: AcceleratedClock = factory(settings.replay_speed, restart_at or start)
    path.write_text(
        json.dumps({"start": clock.start.isoformat(), "speed": clock.speed, "wall_anchor": clock.wall_anchor})
    )
    return clock


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    market: MarketData | None = None,
    exchange: Exchange | None = None,
    migrate: bool = True,
) -> Services:
    check_production_allowed(settings)
    make_private_dir(settings.home)  # holds the token, the log and (by default) the database
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    if market is None:
        inner, clock = build_market(settings, clock)
        from coinpilot.exchange.market_cache import CachedMarketData

        market = CachedMarketData(inner, clock, ttl_seconds=settings.candle_cache_ttl_seconds)
        if exchange is None and settings.trading_mode == TradingMode.PRODUCTION:
            # One client (and so one rate limiter) for market data and orders alike.
            exchange = inner  # type: ignore[assignment]
    clock = clock or SystemClock()
    if exchange is None:
        if settings.trading_mode == TradingMode.PRODUCTION:
            from coinpilot.exchange.coinbase import CoinbaseExchange

            exchange = CoinbaseExchange.from_settings(settings, clock=clock)
        else:
            from coinpilot.exchange.paper import PaperExchange

            exchange = PaperExchange(
                sessions,
                market,
                clock,
                fee_rate=settings.paper_fee_rate,
                slippage_bps=settings.paper_slippage_bps,
                fill_delay_seconds=settings.paper_fill_delay_seconds,
                starting_balances={"USD": Decimal(settings.paper_starting_usd)},
            )
    evaluations = EvaluationService(sessions, market, clock, settings.evaluation_retention)
    mode = settings.trading_mode
    trades = TradeService(sessions, exchange, clock, mode, settings.safety_limits)
    control = ControlService(sessions, clock, mode, exchange=exchange, trade_service=trades)
    loss_breaker = DailyLossBreaker(sessions, market, control, clock, mode, settings.safety_limits)
    sync = OrderSync(
        sessions,
        exchange,
        clock,
        mode,
        interval_seconds=settings.sync_interval_seconds,
        approver=trades.fresh_approval,
        resend_max_age_seconds=settings.pending_resend_max_age_seconds,
        after_settlement=loss_breaker.check_quietly,
    )
    log.info("database: %s (%s mode)", describe_url(url), mode.value)
    services = Services(
        settings, clock, engine, sessions, market, exchange, evaluations, trades, control, sync
    )
    services.extras["wal_checkpointer"] = WalCheckpointer(engine)
    services.escalation = EscalationService(sessions, clock, mode)
    services.alerts = build_alerts(settings)
    services.loss_breaker = loss_breaker
    attach_telemetry(services)
    return services


def build_alerts(settings: Settings) -> AlertDispatcher | None:
    """The alert dispatcher for the configured Apprise URLs (None when there are none). Its
    de-duplication and rate limit run on the wall clock: they protect a person's inbox."""
    cfg = settings.alerts
    if not cfg.urls:
        return None
    try:
        sender = apprise_sender([u.get_secret_value() for u in cfg.urls])
    except ValueError:
        raise StartupError(
            "alerts.urls (COINPILOT_ALERTS__URLS): an entry is not a URL Apprise supports; "
            "see https://github.com/caronc/apprise/wiki for the URL of each service"
        ) from None
    return AlertDispatcher(
        sender,
        SystemClock(),
        dedupe_seconds=cfg.dedupe_minutes * 60,
        max_per_window=cfg.max_per_hour,
        window_seconds=3600,
    )


def attach_telemetry(services: Services) -> None:
    """Point every in-flight measurement of this process at ``services.telemetry``."""
    import sqlalchemy as sa

    telemetry = services.telemetry
    services.sync.telemetry = telemetry
    services.trades.order_sync.telemetry = telemetry

    def on_db_error(context: Any) -> None:
        telemetry.database_error(type(context.original_exception).__name__)

    sa.event.listen(services.engine, "handle_error", on_db_error)
    seen: set[int] = set()
    for candidate in (services.exchange, getattr(services.market, "inner", None)):
        observe = getattr(candidate, "request_observer", "absent")
        if candidate is None or observe == "absent" or id(candidate) in seen:
            continue
        seen.add(id(candidate))
        candidate.request_observer = telemetry.exchange_request  # type: ignore[union-attr]
        telemetry.watch_limiter(candidate.rate_limiter_tokens)  # type: ignore[union-attr]


def production_ready(settings: Settings) -> bool:
    """Production trading may be enabled only by a production-mode process with keys."""
    return settings.trading_mode == TradingMode.PRODUCTION and settings.has_coinbase_keys()
