"""Top-level commands: serve, demo, worker, db, evaluate; sub-apps for bots, trading, safety."""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from coinpilot.cli import bots as bots_cli
from coinpilot.cli.common import console, err_console, one_line, one_line_errors, settings_or_exit

app = typer.Typer(
    name="coinpilot",
    help="Coinpilot: safety-first trading bots for Coinbase Advanced Trade.\n\n"
    "Runs in mock mode (paper fills against real prices) unless COINPILOT_TRADING_MODE=production "
    "and Coinbase keys are set; trading stays disabled until you run 'coinpilot trading enable'.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(bots_cli.app, name="bots")

PortOpt = Annotated[int | None, typer.Option("--port", help="HTTP port (default 8000, env COINPILOT_PORT)")]
HostOpt = Annotated[str | None, typer.Option("--host", help="bind address (default 127.0.0.1)")]
ExposeOpt = Annotated[
    bool,
    typer.Option(
        "--expose",
        help="allow a non-loopback --host (GET endpoints need no token: others on the network can read them)",
    ),
]


def _overrides(host: str | None, port: int | None) -> dict[str, object]:
    out: dict[str, object] = {}
    if host is not None:
        out["host"] = host
    if port is not None:
        out["port"] = port
    return out


@app.command()
@one_line_errors
def serve(
    port: PortOpt = None,
    host: HostOpt = None,
    engine: Annotated[
        bool,
        typer.Option(
            help="run the bot loop in this process (order sync and start-up reconciliation always run)"
        ),
    ] = True,
    expose: ExposeOpt = False,
) -> None:
    """Run the API, the dashboard and (by default) the bot engine."""
    from coinpilot.cli.server import run_server

    run_server(settings_or_exit(**_overrides(host, port)), with_engine=engine, expose=expose)


@app.command()
@one_line_errors
def demo(
    port: PortOpt = None,
    host: HostOpt = None,
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 1800.0,
    fresh: Annotated[bool, typer.Option(help="start from an empty demo database")] = True,
    expose: ExposeOpt = False,
) -> None:
    """Demo: mock trading on shipped real Coinbase candles, replayed fast; dashboard on localhost."""
    from coinpilot.cli.demo import run_demo

    run_demo(_overrides(host, port), speed=speed, fresh=fresh, expose=expose)


@db_app.command("upgrade")
@one_line_errors
def db_upgrade() -> None:
    """Apply database migrations (also done automatically on start)."""
    from coinpilot.store.db import describe_url
    from coinpilot.store.migrate import current_revision, upgrade

    settings = settings_or_exit()
    url = settings.resolved_database_url
    upgrade(url)
    console.print(f"database {describe_url(url)} is at revision {current_revision(url)}")


@app.command()
@one_line_errors
def evaluate(bot: Annotated[str, typer.Argument(help="bot id or name")]) -> None:
    """Evaluate one bot now and print its scores (places no order)."""
    bots_cli.evaluate_command(bot)


@app.command()
@one_line_errors
def version() -> None:
    """Print the version."""
    from coinpilot import __version__

    console.print(__version__)


def main() -> None:
    # Everything Coinpilot writes (database, logs, backups, exports) is for this user only.
    os.umask(0o077)
    _register_optional()
    code = run_cli(app)
    # The command is done and every file it wrote is closed. Left alone, the interpreter's exit
    # walks every object (modules, pydantic schemas, a backtest's trades) in several full garbage
    # collections: ~0.1 s of a one-year backtest's ~1.5 s. Frozen objects are skipped; atexit
    # handlers (log flushing) and the standard streams' flush still run as before.
    gc.freeze()
    sys.exit(code)


def run_cli(application: typer.Typer, args: list[str] | None = None) -> int:
    """Run the CLI; a mistyped option or number is one line on stderr (exit 2), not a panel.

    Click reports usage errors (``--buy-threshold abc``, an unknown option) in a framed box that
    spans several lines; a person fixing a typo needs only the sentence and where to get help.
    """
    # Typer 0.29 ships its own copy of Click; its exception classes live here.
    from typer._click import exceptions as click_errors

    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv  # anywhere on the line: show tracebacks of unexpected errors
    argv = [a for a in argv if a != "--debug"]
    try:
        result = typer.main.get_command(application).main(
            args=argv, prog_name="coinpilot", standalone_mode=False
        )
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # a group called bare prints its help, as before
        return 0
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "coinpilot"
        err_console.print(
            f"[red]error:[/red] {exc.format_message()} (see '{where} --help')",
            highlight=False,
            soft_wrap=True,
        )
        return exc.exit_code
    except click_errors.ClickException as exc:
        err_console.print(f"[red]error:[/red] {exc.format_message()}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted", highlight=False)
        return 1
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"[red]error:[/red] unexpected {type(exc).__name__}: {one_line(str(exc))} "
            "(run again with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return result if isinstance(result, int) else 0


def _register_optional() -> None:
    """Command groups that live in their own modules."""
    from coinpilot.cli import trading as trading_cli

    trading_cli.register(app)
    __import__("coinpilot.cli.ops", fromlist=["register"]).register(app)
    __import__("coinpilot.cli.worker", fromlist=["register"]).register(app)
    __import__("coinpilot.cli.operations", fromlist=["register"]).register(app)
    __import__("coinpilot.cli.export", fromlist=["register"]).register(app)
    __import__("coinpilot.cli.backtest", fromlist=["register"]).register(app)
    __import__("coinpilot.cli.optimize", fromlist=["register"]).register(app)


__all__ = ["app", "main"]
