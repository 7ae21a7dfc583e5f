"""Which database a CLI command opens, said out loud, and never a new one by accident.

``coinpilot demo`` keeps its own database (``COINPILOT_HOME/demo.db``) so demo bots never mix with
yours; plain commands use ``COINPILOT_DATABASE_URL`` (default ``COINPILOT_HOME/coinpilot.db``).
A user who runs ``coinpilot bots list`` beside a running demo would otherwise see empty tables
and, worse, silently create a second database. So: a command that would *create* a SQLite
database while the demo's database exists in the same home stops and names both (creating one
stays possible, deliberately, with ``coinpilot db upgrade``); and listings print the database they
read.
"""

from __future__ import annotations

from typing import Any

from coinpilot.cli.common import CliError, settings_or_exit
from coinpilot.config import Settings

DEMO_DB_NAME = "demo.db"


def demo_running(settings: Settings) -> bool:
    from coinpilot.store.backup import ServerLock

    lock = ServerLock(settings.home / f"{DEMO_DB_NAME}.serve.lock")
    return lock.path.exists() and lock.held_elsewhere()


def refuse_accidental_database(settings: Settings) -> None:
    """CliError when this command would create a new SQLite file beside the demo's database."""
    from coinpilot.store.backup import sqlite_path

    path = sqlite_path(settings.resolved_database_url)
    demo = settings.home / DEMO_DB_NAME
    if path is None or path.exists() or path == demo or not demo.exists():
        return
    state = "the demo is running on" if demo_running(settings) else "the demo's database is"
    raise CliError(
        f"no database at {path} ({state} {demo}): to use the demo's bots set "
        f"COINPILOT_DATABASE_URL=sqlite:///{demo}; to start a new database here run "
        "'coinpilot db upgrade' first"
    )


def open_services(settings: Settings | None = None) -> Any:
    from coinpilot.services import build_services

    settings = settings or settings_or_exit()
    refuse_accidental_database(settings)
    return build_services(settings)


def where(services: Any) -> str:
    """``mode: mock  database: /home/me/.coinpilot/coinpilot.db`` for listings."""
    from coinpilot.store.db import describe_url

    return f"mode: {services.mode.value}  database: {describe_url(services.settings.resolved_database_url)}"
