"""Operating commands: ``backup``, ``restore`` and ``doctor`` (see docs/runbook.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from coinpilot.cli.common import CliError, console, one_line_errors, settings_or_exit


def backup_command(target: Path | None) -> None:
    from coinpilot.store import backup as bk
    from coinpilot.store.migrate import known_revisions

    settings = settings_or_exit()
    url = settings.resolved_database_url
    db = bk.sqlite_path(url)
    if db is None:
        console.print(bk.pg_dump_instructions(url), soft_wrap=True, highlight=False)
        return
    path = target or bk.default_backup_path(settings, datetime.now(UTC))
    try:
        bk.backup_sqlite(db, path)
        checked = bk.check_backup_file(path, known_revisions())
    except bk.BackupError as exc:
        raise CliError(str(exc)) from None
    console.print(
        f"backup written: {path} (schema {checked.revision}, {checked.bots} bots, {checked.trades} trades)",
        soft_wrap=True,
        highlight=False,
    )


def restore_command(source: Path, yes: bool) -> None:
    from coinpilot.store import backup as bk
    from coinpilot.store.migrate import known_revisions

    settings = settings_or_exit()
    url = settings.resolved_database_url
    db = bk.sqlite_path(url)
    if db is None:
        console.print(bk.pg_dump_instructions(url), soft_wrap=True, highlight=False)
        return
    try:
        checked = bk.check_backup_file(source, known_revisions())
        if not yes:
            typer.confirm(
                f"replace {db} with {source} ({checked.bots} bots, {checked.trades} trades)?", abort=True
            )
        kept = bk.restore_sqlite(
            source, db, bk.ServerLock.for_settings(settings), known_revisions(), datetime.now(UTC)
        )
    except bk.BackupError as exc:
        raise CliError(str(exc)) from None
    console.print(f"restored {source} into {db}", soft_wrap=True, highlight=False)
    if any(Path(str(kept) + s).exists() for s in ("", "-wal")):
        console.print(f"the replaced database is kept as {kept}", soft_wrap=True, highlight=False)
    console.print(
        "next start applies newer migrations and reconciles unfinished trades with the exchange "
        "before any new order",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    @one_line_errors
    def backup(
        target: Annotated[
            Path | None,
            typer.Argument(help="file to write (default COINPILOT_HOME/backups/coinpilot-<UTC time>.db)"),
        ] = None,
    ) -> None:
        """Back up the database (SQLite online backup, safe while serving; pg_dump steps for PostgreSQL)."""
        backup_command(target)

    @app.command()
    @one_line_errors
    def restore(
        source: Annotated[Path, typer.Argument(help="backup file made by 'coinpilot backup'")],
        yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    ) -> None:
        """Restore a checked backup; refuses while a server uses the database; keeps the old file."""
        restore_command(source, yes)

    @app.command()
    def doctor(
        exchange: Annotated[
            bool, typer.Option(help="also check the exchange (read-only calls) when keys are set")
        ] = True,
    ) -> None:
        """Check configuration, database, secrets, clock, exchange, disk; exit 0 ok, 1 warn, 2 fail."""
        from coinpilot.doctor import print_report, run_doctor

        report = run_doctor(check_exchange=exchange)
        print_report(report, console)
        raise typer.Exit(code=report.exit_code)
