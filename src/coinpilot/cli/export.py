"""``coinpilot export trades|fills --csv FILE``: the same CSV as ``/api/v1/export/*.csv``."""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from coinpilot.cli.common import CliError, console, one_line_errors
from coinpilot.domain.types import TradingMode


class ExportKind(StrEnum):
    trades = "trades"
    fills = "fills"


def register(app: typer.Typer) -> None:
    app.command("export")(export)


@one_line_errors
def export(
    what: Annotated[ExportKind, typer.Argument(help="trades or fills")],
    csv_path: Annotated[Path, typer.Option("--csv", help="file to write ('-' for stdout)")],
    mode: Annotated[
        TradingMode | None, typer.Option(help="mock or production (default: the configured mode)")
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write every trade or fill of one mode as CSV (exact decimals, ISO 8601 UTC times)."""
    from coinpilot.cli.database import open_services
    from coinpilot.store.repos import analytics as reads

    if str(csv_path) != "-" and csv_path.exists() and not force:
        raise CliError(f"{csv_path} exists: choose another file or pass --force")
    services = open_services()
    chosen = mode or services.mode
    header, read = (
        (reads.TRADE_COLUMNS, reads.trade_rows)
        if what == ExportKind.trades
        else (reads.FILL_COLUMNS, reads.fill_rows)
    )
    rows = 0
    with services.sessions() as s:
        if str(csv_path) == "-":
            import sys

            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(header)
            for row in read(s, chosen):
                writer.writerow(row)
            return
        tmp = csv_path.with_name(csv_path.name + ".partial")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            for row in read(s, chosen):
                writer.writerow(row)
                rows += 1
        tmp.replace(csv_path)
    console.print(f"wrote {rows} {what.value} ({chosen.value} mode) to {csv_path}", highlight=False)
