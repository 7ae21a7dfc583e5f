"""``coinpilot bots ...`` and ``coinpilot evaluate``: work directly on the configured database."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from coinpilot.cli.common import CliError, console, one_line_errors
from coinpilot.domain.types import Granularity

app = typer.Typer(help="Create, list, edit, start, stop and delete bots.", no_args_is_help=True)


def _services() -> Any:
    from coinpilot.cli.database import open_services

    return open_services()


def _find(session: Any, ref: str) -> Any:
    from coinpilot.store import bots as bot_repo

    bot = bot_repo.get_bot_by_name_or_id(session, ref)
    if bot is None:
        raise CliError(f"no bot {ref!r}: see 'coinpilot bots list'")
    return bot


@app.command("list")
@one_line_errors
def list_bots() -> None:
    """List bots with their status and latest score."""
    from coinpilot.store import bots as bot_repo

    services = _services()
    table = Table("id", "name", "pair", "status", "score", "action", "temperature", "last error")
    with services.sessions() as s:
        for b in bot_repo.list_bots(s):
            rt = b.runtime
            table.add_row(
                str(b.id),
                b.name,
                b.pair,
                b.status.value,
                "—" if rt is None or rt.last_score is None else f"{rt.last_score:+.3f}",
                "—" if rt is None or rt.last_action is None else rt.last_action.value,
                "—" if rt is None or rt.last_temperature is None else rt.last_temperature.value,
                (rt.last_error or "") if rt is not None else "",
            )
    from coinpilot.cli.database import where

    console.print(where(services), highlight=False)
    console.print(table)


@app.command("create")
@one_line_errors
def create(
    name: Annotated[str, typer.Option(help="unique bot name")],
    pair: Annotated[str, typer.Option(help="trading pair, e.g. BTC-USD (one bot per pair)")],
    trade_size: Annotated[str, typer.Option(help="USD per entry tranche")] = "10",
    buy_threshold: Annotated[float, typer.Option(help="buy when score >= this")] = 0.5,
    sell_threshold: Annotated[float, typer.Option(help="sell when score <= -this")] = 0.5,
    confirmation_minutes: Annotated[float, typer.Option(help="how long an action must hold")] = 5,
    cooldown_minutes: Annotated[float, typer.Option(help="pause after a fill")] = 15,
    max_tranches: Annotated[int, typer.Option(help="entries per position")] = 3,
    granularity: Annotated[Granularity, typer.Option(help="candle size")] = Granularity.ONE_HOUR,
    description: Annotated[str, typer.Option()] = "",
) -> None:
    """Create a bot (STOPPED) with the default RSI/MA/MACD signal mix."""
    from coinpilot.api.errors import FieldValidationError
    from coinpilot.cli.bot_edit import parse_decimal
    from coinpilot.domain.signal_config import SignalConfig
    from coinpilot.engine.bots import admin as bot_admin
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_change
    from coinpilot.views import rows as views

    services = _services()
    values: dict[str, Any] = {
        "name": name,
        "pair": pair,
        "description": description,
        "granularity": granularity,
        "signal_config": SignalConfig.default().to_dict(),
        "buy_threshold": buy_threshold,
        "sell_threshold": sell_threshold,
        "confirmation_minutes": confirmation_minutes,
        "trade_size_usd": parse_decimal("--trade-size", trade_size),
        "cooldown_minutes": cooldown_minutes,
        "max_tranches": max_tranches,
        "strategy": {},
    }
    errors = bot_admin.creation_problems(values, services.settings.safety_limits, services.market)
    if errors:
        raise FieldValidationError(errors)
    with session_scope(services.sessions) as s:
        bot = bot_repo.create_bot(s, bot_admin.normalise(values), services.clock.now())
        record_change(
            s,
            at=services.clock.now(),
            actor="cli",
            mode=services.mode,
            action="bot_created",
            bot_id=bot.id,
            after=views.bot_dict(bot),
        )
        console.print(f"created bot {bot.id} {bot.name!r} on {bot.pair} (STOPPED)")


@app.command("start")
@one_line_errors
def start(bot: Annotated[str, typer.Argument(help="bot id or name")]) -> None:
    """Start (resume) a bot: the engine evaluates it (and trades only if trading is enabled).

    Clears the consecutive-loss lock and restarts the confirmation (audited)."""
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.db import session_scope

    services = _services()
    with session_scope(services.sessions) as s:
        b = _find(s, bot)
        bot_control.start(s, b, now=services.clock.now(), actor="cli", mode=services.mode)
        console.print(f"bot {b.id} {b.name!r}: RUNNING (loss lock cleared, confirmation restarted)")


@app.command("pause")
@one_line_errors
def pause(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    reason: Annotated[str, typer.Option(help="why (recorded with the pause)")] = "",
) -> None:
    """Pause a RUNNING bot: no new entries; stop-loss, trailing stop and take-profit keep running.

    'coinpilot bots start' resumes it (audited)."""
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.db import session_scope

    services = _services()
    with session_scope(services.sessions) as s:
        b = _find(s, bot)
        try:
            bot_control.pause(s, b, now=services.clock.now(), actor="cli", mode=services.mode, reason=reason)
        except bot_control.PauseRefused as exc:
            raise CliError(str(exc)) from None
        console.print(
            f"bot {b.id} {b.name!r}: PAUSED (no new entries; its position keeps its automatic exits)"
        )


@app.command("stop")
@one_line_errors
def stop(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    close: Annotated[bool, typer.Option("--close", help="also sell the whole position now")] = False,
) -> None:
    """Stop a bot: no more entries. Its position keeps its stop-loss, trailing stop and
    take-profit unless you close it (--close) or turn protection off."""
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.db import session_scope

    services = _services()
    with session_scope(services.sessions) as s:
        b = _find(s, bot)
        bot_id, name = b.id, b.name
        bot_control.stop(
            s, b, now=services.clock.now(), actor="cli", mode=services.mode, close_position=close
        )
    console.print(f"bot {bot_id} {name!r}: STOPPED")
    if close:
        out = bot_control.close_position(services.sessions, services.trades, bot_id)
        if out.base_size is None:
            console.print("no position to close")
        elif out.allowed and out.trade_id is not None:
            from coinpilot.cli.trading import _wait_until_final

            trade = services.trades.get_trade(out.trade_id)
            final = _wait_until_final(services, trade) if trade is not None else None
            status = final.status if final is not None else "unknown"
            console.print(f"closing {out.base_size}: trade {out.trade_id} {status}")
        else:
            reasons = "; ".join(str(r.get("message", r)) for r in out.reasons if isinstance(r, dict))
            raise CliError(f"closing the position was refused: {reasons}")


@app.command("protection")
@one_line_errors
def protection(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    state: Annotated[str, typer.Argument(help="on or off")],
    reason: Annotated[str, typer.Option(help="why (required to turn it off)")] = "",
) -> None:
    """Turn the position's automatic stop-loss, trailing stop and take-profit on or off (audited)."""
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.db import session_scope

    if state not in ("on", "off"):
        raise CliError("state must be 'on' or 'off'")
    services = _services()
    with session_scope(services.sessions) as s:
        b = _find(s, bot)
        try:
            bot_control.set_protection(
                s,
                b,
                enabled=state == "on",
                now=services.clock.now(),
                actor="cli",
                mode=services.mode,
                reason=reason,
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
        console.print(f"bot {b.id} {b.name!r}: protection {state}")


def evaluate_command(ref: str) -> None:
    services = _services()
    with services.sessions() as s:
        bot_id = _find(s, ref).id
    result = services.evaluations.evaluate_bot(bot_id).to_dict()
    table = Table("signal", "status", "value", "score", "weight", "contribution")
    for sig in result["signals"]:

        def f(v: Any) -> str:
            return "—" if v is None else f"{v:.4f}"

        table.add_row(
            sig["name"],
            sig["status"],
            f(sig["value"]),
            f(sig["score"]),
            f(sig["effective_weight"]),
            f(sig["contribution"]),
        )
    console.print(table)
    from coinpilot.cli import formatting as fmt

    t, c = result["temperature"], result["confirmation"]
    console.print(
        f"score {result['score']:+.4f} → {result['action']}  {t['level'].upper()}  "
        f"confirmation {c['progress'] * 100:.0f}% ({fmt.duration(c['remaining_seconds'])} left)  "
        f"price {fmt.usd(result['price'])}",
        highlight=False,
    )


def _register_edit() -> None:
    from coinpilot.cli import bot_edit

    bot_edit.register(app)


_register_edit()
