"""``coinpilot doctor``: everything a person checks before leaving Coinpilot alone, in one report.

Each finding has a severity and, when it is not OK, the fix in one sentence. The exit code is the
worst severity (0 ok, 1 warnings, 2 problems), so a deployment script or a cron job can act on it.
Exchange checks use read-only calls only (``coinpilot exchange check``); nothing here places,
cancels or changes anything, and the database is only read.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coinpilot.config import ConfigError, Settings, load_settings

DISK_FAIL_BYTES = 100 * 1024 * 1024
DISK_WARN_BYTES = 1024 * 1024 * 1024
SKEW_WARN_SECONDS = 5.0


class Severity(IntEnum):
    OK = 0
    WARN = 1
    FAIL = 2


@dataclass(frozen=True)
class Finding:
    area: str
    severity: Severity
    message: str
    fix: str = ""


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    def add(self, area: str, severity: Severity, message: str, fix: str = "") -> None:
        self.findings.append(Finding(area, severity, message, fix))

    @property
    def exit_code(self) -> int:
        return int(max((f.severity for f in self.findings), default=Severity.OK))

    def problems(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]


def run_doctor(
    settings: Settings | None = None,
    *,
    check_exchange: bool = True,
    exchange_factory: Callable[[Settings], Any] | None = None,
) -> DoctorReport:
    report = DoctorReport()
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as exc:
            report.add("configuration", Severity.FAIL, str(exc), "correct the setting named above")
            return report
    report.add(
        "configuration",
        Severity.OK,
        f"loaded ({settings.trading_mode.value} mode, home {settings.home})",
    )
    engine = _check_database(settings, report)
    _check_secret_files(settings, report)
    _check_disk(settings, report)
    if check_exchange:
        _check_exchange(settings, report, exchange_factory)
    if engine is not None:
        try:
            _check_trading_blockers(settings, engine, report)
        finally:
            engine.dispose()
    return report


# ---- database --------------------------------------------------------------------------------
def _check_database(settings: Settings, report: DoctorReport) -> sa.Engine | None:
    from coinpilot.store.db import describe_url, make_engine
    from coinpilot.store.migrate import head_revision, known_revisions

    url = settings.resolved_database_url
    shown = describe_url(url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        report.add(
            "database",
            Severity.WARN,
            f"{shown} does not exist yet",
            "start Coinpilot once or run 'coinpilot db upgrade' to create it",
        )
        return None
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            from alembic.runtime.migration import MigrationContext

            revision = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        engine.dispose()
        report.add(
            "database",
            Severity.FAIL,
            f"{shown} is unreachable: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            "check COINPILOT_DATABASE_URL, that the database server runs and the user may connect",
        )
        return None
    report.add("database", Severity.OK, f"{shown} reachable")
    head = head_revision()
    if revision == head:
        report.add("migrations", Severity.OK, f"schema at the current revision {head}")
        return engine
    if revision is None:
        report.add(
            "migrations", Severity.WARN, "the database has no schema yet", "run 'coinpilot db upgrade'"
        )
        engine.dispose()
        return None
    if revision in known_revisions():
        report.add(
            "migrations",
            Severity.WARN,
            f"schema at revision {revision}, this version expects {head}",
            "run 'coinpilot db upgrade' (also applied automatically at start; back up first)",
        )
        engine.dispose()
        return None
    report.add(
        "migrations",
        Severity.FAIL,
        f"schema revision {revision} is unknown to this version (expects {head})",
        "the database was written by a newer Coinpilot: upgrade Coinpilot or restore a backup",
    )
    engine.dispose()
    return None


# ---- files -----------------------------------------------------------------------------------
def _secret_files(settings: Settings) -> list[tuple[str, Path]]:
    from coinpilot.security import token_path

    files = [("API token", token_path(settings.home))]
    if settings.coinbase_key_file:
        files.append(("Coinbase key file", Path(settings.coinbase_key_file)))
    config = os.environ.get("COINPILOT_CONFIG")
    if config:
        files.append(("configuration file", Path(config)))
    return files


def _check_secret_files(settings: Settings, report: DoctorReport) -> None:
    for what, path in _secret_files(settings):
        if not path.exists():
            if what == "Coinbase key file":
                report.add(
                    "secrets",
                    Severity.FAIL,
                    f"{what} {path} does not exist",
                    "fix COINPILOT_COINBASE_KEY_FILE",
                )
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            report.add(
                "secrets",
                Severity.FAIL,
                f"{what} {path} is readable by other users (mode {mode:o})",
                f"chmod 600 {path}",
            )
        else:
            report.add("secrets", Severity.OK, f"{what} {path} is private (mode {mode:o})")


def _check_disk(settings: Settings, report: DoctorReport) -> None:
    from coinpilot.store.backup import sqlite_path

    db = sqlite_path(settings.resolved_database_url)
    where = db.parent if db is not None else settings.home
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    shown = f"{free / 1024**3:.1f} GiB free at {where}"
    if free < DISK_FAIL_BYTES:
        report.add("disk", Severity.FAIL, shown, "free disk space: the database cannot grow")
    elif free < DISK_WARN_BYTES:
        report.add("disk", Severity.WARN, shown, "free disk space soon (backups and logs grow)")
    else:
        report.add("disk", Severity.OK, shown)


# ---- exchange --------------------------------------------------------------------------------
def _check_exchange(
    settings: Settings, report: DoctorReport, factory: Callable[[Settings], Any] | None
) -> None:
    from coinpilot.domain.types import TradingMode
    from coinpilot.services import StartupError, check_production_allowed

    try:
        check_production_allowed(settings)
    except StartupError as exc:
        report.add("exchange", Severity.FAIL, str(exc), "set the keys or switch to mock mode")
        return
    if not settings.has_coinbase_keys():
        report.add("exchange", Severity.OK, "mock mode without Coinbase keys: paper exchange only")
        return
    from coinpilot.exchange.base import ExchangeError
    from coinpilot.exchange.check import MAX_SKEW_SECONDS, run_exchange_check

    try:
        if factory is not None:
            exchange = factory(settings)
        else:
            from coinpilot.exchange.coinbase import CoinbaseExchange

            exchange = CoinbaseExchange.from_settings(settings, max_attempts=1)
        check = run_exchange_check(exchange)
    except ExchangeError as exc:
        report.add(
            "exchange",
            Severity.FAIL,
            f"cannot check the exchange: {exc.reason}",
            "check the keys (COINPILOT_COINBASE_*) and the network",
        )
        return
    severity = Severity.FAIL if settings.trading_mode == TradingMode.PRODUCTION else Severity.WARN
    if not check.key_valid:
        report.add(
            "exchange",
            severity,
            "; ".join(check.problems) or "the API key was refused",
            "create a new CDP key with view+trade (not transfer) permissions",
        )
        return
    for problem in check.problems:
        report.add("exchange", severity, problem, "see 'coinpilot exchange check'")
    if not check.problems:
        report.add(
            "exchange",
            Severity.OK,
            f"key valid: view={check.can_view} trade={check.can_trade} transfer={check.can_transfer}",
        )
    skew = check.clock_skew_seconds
    if skew is None:
        report.add(
            "clock",
            Severity.WARN,
            "the exchange sent no time to compare with",
            "run 'coinpilot exchange check' later",
        )
    elif abs(skew) > MAX_SKEW_SECONDS:
        pass  # already one of the check's problems
    elif abs(skew) > SKEW_WARN_SECONDS:
        report.add(
            "clock",
            Severity.WARN,
            f"clock {skew:+.0f} s off the exchange's",
            "synchronise the clock (NTP: timedatectl set-ntp true)",
        )
    else:
        report.add("clock", Severity.OK, f"clock within {abs(skew):.0f} s of the exchange's")


# ---- what blocks trading now -----------------------------------------------------------------
def _check_trading_blockers(settings: Settings, engine: sa.Engine, report: DoctorReport) -> None:
    from coinpilot.domain.clock import SystemClock
    from coinpilot.domain.types import BotStatus, TradeStatus
    from coinpilot.engine.risk.control import ControlService
    from coinpilot.store.db import make_session_factory
    from coinpilot.store.models import Bot, Trade

    sessions = make_session_factory(engine)
    state = ControlService(sessions, SystemClock(), settings.trading_mode).state()
    _report_trading_state(state, settings.trading_mode.value, report)
    with sessions() as s:
        errored = list(s.scalars(sa.select(Bot.name).where(Bot.status == BotStatus.ERROR)))
        running = s.scalar(sa.select(sa.func.count()).where(Bot.status == BotStatus.RUNNING)) or 0
        stuck = s.execute(
            sa.select(Trade.id, Trade.status, Trade.last_error).where(
                Trade.mode == settings.trading_mode,
                Trade.status.in_([TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.FILLED]),
                Trade.last_error.is_not(None),
            )
        ).all()
    if errored:
        report.add(
            "bots",
            Severity.WARN,
            f"bots in ERROR: {', '.join(errored)}",
            "see the bot's last error on the dashboard, fix it, then 'coinpilot bots start NAME'",
        )
    report.add("bots", Severity.OK, f"{running} bot(s) running")
    for trade_id, status, error in stuck:
        report.add(
            "orders", Severity.WARN, f"trade {trade_id} is {status}: {error}", "docs/runbook.md: stuck order"
        )
    report.add("time", Severity.OK, f"checked at {datetime.now(UTC).isoformat(timespec='seconds')}")


def _report_trading_state(state: dict[str, Any], mode: str, report: DoctorReport) -> None:
    """ACTIVE is fine; HALTED because nobody enabled trading yet is a warning; any other HALTED
    (a kill) or REDUCING (a breaker: no buys) blocks trading and needs a person."""
    current = str(state.get("state") or "unknown").upper()
    reason = state.get("reason") or "no reason given"
    by = f" by {state['by']}" if state.get("by") else ""
    if current == "ACTIVE":
        report.add("trading", Severity.OK, f"trading is ACTIVE ({mode} mode)")
    elif current == "HALTED" and (
        reason in ("not enabled yet", "trading disabled") or str(reason).startswith("not enabled for")
    ):
        report.add(
            "trading",
            Severity.WARN,
            f"trading is HALTED for {mode} mode ({reason}): nothing will be sent",
            "'coinpilot trading enable' when you mean to trade",
        )
    elif current == "HALTED":
        report.add(
            "trading",
            Severity.FAIL,
            f"trading is HALTED{by}: {reason}",
            "find the cause (docs/runbook.md: breaker tripped), then 'coinpilot release' and "
            "'coinpilot trading enable'",
        )
    else:
        report.add(
            "trading",
            Severity.FAIL,
            f"trading is {current}{by}: {reason} (exits only, no buys)",
            "find the cause (docs/runbook.md: breaker tripped), then 'coinpilot trading enable'",
        )


def print_report(report: DoctorReport, console: Any) -> None:
    marks = {
        Severity.OK: "[green]ok[/green]  ",
        Severity.WARN: "[yellow]warn[/yellow]",
        Severity.FAIL: "[red]FAIL[/red]",
    }
    for f in report.findings:
        console.print(f"{marks[f.severity]} {f.area:<13} {f.message}", soft_wrap=True, highlight=False)
        if f.fix and f.severity != Severity.OK:
            console.print(f"     {'':<13} fix: {f.fix}", soft_wrap=True, highlight=False)
    worst = Severity(report.exit_code)
    summary = {Severity.OK: "all good", Severity.WARN: "warnings", Severity.FAIL: "problems to fix"}[worst]
    console.print(
        f"result: {summary} ({len(report.problems(Severity.FAIL))} problems, "
        f"{len(report.problems(Severity.WARN))} warnings)"
    )
