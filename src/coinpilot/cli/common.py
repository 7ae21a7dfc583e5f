"""Shared CLI plumbing: settings/services loading and one-line error reporting."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from coinpilot.config import ConfigError, Settings, load_settings


def _width() -> int | None:
    """The terminal's width on a terminal; when piped, wide enough that no table is cut at 80
    columns (Rich's default without a terminal) unless COLUMNS says otherwise."""
    import os

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return None
    return 240


console = Console(width=_width())
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def one_line_errors(fn: F) -> F:
    """Turn known exceptions into ``error: ...`` on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            message = describe_error(exc)
            if message is None:
                raise
            err_console.print(f"[red]error:[/red] {one_line(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2 if isinstance(exc, ConfigError) else 1) from None

    return wrapper  # type: ignore[return-value]


def one_line(message: str) -> str:
    """Messages from libraries (the Coinbase SDK's key errors) can span lines: join them."""
    return " ".join(message.split())


def describe_error(exc: Exception) -> str | None:
    from coinpilot.api.errors import FieldValidationError
    from coinpilot.engine.loop.evaluator import BotNotFound
    from coinpilot.exchange.base import ExchangeError
    from coinpilot.services import StartupError
    from coinpilot.store.bots import BotConflict

    if isinstance(exc, (ConfigError, StartupError, CliError, BotNotFound)):
        return str(exc)
    if isinstance(exc, FieldValidationError):
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    if isinstance(exc, BotConflict):
        return exc.message
    if isinstance(exc, ExchangeError):
        return f"{exc.reason} ({exc.code})"
    for name in ("InvalidTradeRequest", "TradingNotAllowed", "ControlError", "TokenError", "StaleEvaluation"):
        if type(exc).__name__ == name:
            return str(exc)
    if isinstance(exc, (OSError,)) and not isinstance(exc, (BrokenPipeError,)):
        return str(exc)
    return None


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {one_line(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
