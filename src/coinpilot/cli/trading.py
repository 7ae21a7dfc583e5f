"""``coinpilot trading|safety|trade|trades|kill|release|exchange``: the safety controls.

These act on the configured database directly, so they work whether or not a server runs; the
running engine sees every change on its next step (the state is persisted, not in memory).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from coinpilot.cli.common import CliError, console, one_line_errors, settings_or_exit
from coinpilot.domain.types import Side

trading_app = typer.Typer(
    help="The trading state: ACTIVE, REDUCING (exits only) or HALTED (HALTED after install).",
    no_args_is_help=True,
)
safety_app = typer.Typer(help="Safety limits, usage and the audit trail.", no_args_is_help=True)
exchange_app = typer.Typer(help="Check the Coinbase connection (read-only).", no_args_is_help=True)


def _services() -> Any:
    from coinpilot.cli.database import open_services

    return open_services()


_STATE_COLOUR = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "red"}


def _print_state(state: dict[str, Any]) -> None:
    name = state["state"]
    colour = _STATE_COLOUR.get(name, "red")
    console.print(f"mode: [bold]{state['mode']}[/bold]  trading: [{colour}]{name}[/{colour}]")
    since = f" since {state['since']}" if state.get("since") else ""
    console.print(f"reason: {state['reason']} (by {state['by']}{since})", highlight=False)
    console.print(f"allows: {state['allows']}", highlight=False)


@trading_app.command("status")
@one_line_errors
def trading_status() -> None:
    """Show the mode and the trading state (ACTIVE / REDUCING / HALTED) with its reason."""
    _print_state(_services().control.state())


@trading_app.command("state")
@one_line_errors
def trading_state(
    new: Annotated[str | None, typer.Argument(help="ACTIVE, REDUCING or HALTED; omit to show")] = None,
    reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "",
) -> None:
    """Show or set the trading state."""
    from coinpilot.services import production_ready

    services = _services()
    if new is None:
        _print_state(services.control.state())
        return
    _print_state(
        services.control.set_state(new, "cli", reason, production_ready=production_ready(services.settings))
    )


@trading_app.command("enable")
@one_line_errors
def trading_enable() -> None:
    """ACTIVE in this process's mode (production also needs keys and the env switch)."""
    from coinpilot.services import production_ready

    services = _services()
    _print_state(services.control.enable_trading("cli", production_ready=production_ready(services.settings)))


@trading_app.command("activate")
@one_line_errors
def trading_activate(reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "") -> None:
    """ACTIVE: everything within the limits (the same as 'enable')."""
    from coinpilot.services import production_ready

    services = _services()
    _print_state(
        services.control.activate("cli", reason, production_ready=production_ready(services.settings))
    )


@trading_app.command("reduce")
@one_line_errors
def trading_reduce(reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "") -> None:
    """REDUCING: only risk-reducing sells (stops, take-profit, exits, manual sells); no buys."""
    _print_state(_services().control.reduce("cli", reason))


@trading_app.command("halt")
@one_line_errors
def trading_halt(reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "") -> None:
    """HALTED: nothing is sent but an emergency close; unsent orders are never sent."""
    _print_state(_services().control.halt("cli", reason))


@trading_app.command("disable")
@one_line_errors
def trading_disable(reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "") -> None:
    """HALTED (the same as 'halt'): no new orders; open orders still sync."""
    _print_state(_services().control.disable_trading("cli", reason))


@safety_app.command("status")
@one_line_errors
def safety_status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Limits, today's usage, cooldowns and the emergency state."""
    services = _services()
    from coinpilot.views.safety_status import safety_status as safety_status_view

    status = safety_status_view(services.control, services.settings.safety_limits)
    if as_json:
        console.print_json(json.dumps(status))
        return
    _print_state(status)
    today = status["today"]
    from coinpilot.cli.formatting import usd

    console.print(
        f"today: {today['trades']}/{today['max_daily_trades']} trades, realised P&L "
        f"{usd(today['realized_pnl'], signed=True)} (limit −{usd(today['daily_loss_limit_usd'])})  "
        f"exposure {usd(status['exposure']['total'])}/{usd(status['exposure']['max'])}",
        highlight=False,
    )
    from coinpilot.cli import formatting as fmt

    table = fmt.table(
        "bot", "status", "trades today", "cooldown left", "losses in a row", "tranches",
        numeric=("trades today", "cooldown left", "losses in a row", "tranches"),
    )  # fmt: skip
    for b in status["bots"]:
        table.add_row(
            b["name"],
            b["status"],
            f"{b['trades_today']}/{b['max_daily_trades_per_bot']}",
            fmt.duration(b["cooldown_remaining_seconds"]),
            str(b["consecutive_losses"])
            + (f" (buys locked until {b['loss_lock_until']})" if b.get("loss_lock_until") else ""),
            str(b["tranches"]),
        )
    console.print(table)
    for b in status["bots"]:
        for stuck in b.get("needs_attention") or []:
            console.print(
                f"[red]needs attention[/red] trade {stuck['trade_id']} of {b['name']}: {stuck['reason']}",
                highlight=False,
            )


@safety_app.command("audit")
@one_line_errors
def safety_audit(limit: Annotated[int, typer.Option(help="how many")] = 20) -> None:
    """Recent safety decisions with their reasons."""
    from coinpilot.store.repos.audit import recent_audits

    services = _services()
    table = Table("id", "time", "bot", "side", "intent", "allowed", "reasons")
    with services.sessions() as s:
        for a in recent_audits(s, services.mode, limit):
            reasons = "; ".join(r.get("message", "") for r in (a.reasons or []))
            table.add_row(
                str(a.id),
                a.created_at.isoformat(timespec="seconds"),
                str(a.bot_id or "—"),
                a.side.value if a.side else "—",
                a.intent.value if a.intent else "—",
                "yes" if a.allowed else "[red]no[/red]",
                reasons,
            )
    console.print(table)


def kill(
    reason: Annotated[
        str, typer.Option(help="why (shown everywhere until released)")
    ] = "emergency stop (CLI)",
    cancel_orders: Annotated[bool, typer.Option(help="also cancel open orders")] = False,
    close_positions: Annotated[bool, typer.Option(help="also sell every position (EMERGENCY_CLOSE)")] = False,
) -> None:
    """Emergency stop: HALTED now (unsent orders are never sent); persists until changed."""
    services = _services()
    report = services.control.engage_emergency(
        "cli", reason, cancel_open_orders=cancel_orders, close_positions=close_positions
    )
    _print_state(services.control.state())
    for err in report.to_dict().get("errors", []):
        console.print(f"[red]warning:[/red] {err}")


def release(note: Annotated[str, typer.Option(help="note for the audit trail")] = "") -> None:
    """Release a halt: REDUCING (exits and stop-losses run, no buys until 'coinpilot trading enable')."""
    _print_state(_services().control.release_emergency("cli", note))


def trade(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    side: Annotated[Side, typer.Argument(help="buy or sell")],
    quote: Annotated[str | None, typer.Option(help="USD to spend (buys), e.g. 10")] = None,
    base: Annotated[str | None, typer.Option(help="base amount to sell, e.g. 0.0002")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only ask the safety service")] = False,
) -> None:
    """Place a manual market order for a bot, through every safety check."""
    from coinpilot.store import bots as bot_repo

    services = _services()
    with services.sessions() as s:
        found = bot_repo.get_bot_by_name_or_id(s, bot)
        if found is None:
            raise CliError(f"no bot {bot!r}: see 'coinpilot bots list'")
        bot_id = found.id
    if not dry_run:  # like the server: bring unfinished trades up to date before any new order
        from coinpilot.engine.orders.reconcile import reconcile_all

        reconcile_all(
            services.sessions,
            services.exchange,
            services.clock,
            services.mode,
            services.trades.fresh_approval,
        )
    fn = services.trades.validate if dry_run else services.trades.execute
    result = fn(bot_id, side, quote_size=quote, base_size=base)
    if not dry_run:
        from coinpilot.engine.audit import record_manual_trade

        record_manual_trade(services.sessions, services.clock, services.mode, "cli", bot_id, result)
    console.print(f"mode: [bold]{services.mode.value}[/bold]")
    if not result.allowed:
        for r in result.decision.get("reasons", []):
            console.print(f"[red]refused[/red] {r['code']}: {r['message']}")
        raise typer.Exit(1)
    if result.trade is None:
        console.print("[green]allowed[/green] (dry run: nothing placed)")
        return
    t = _wait_until_final(services, result.trade)
    console.print(f"trade {t.id} {t.side} {t.pair}: {t.status} (client order id {t.client_order_id})")
    if t.filled_base_size:
        console.print(
            f"filled {t.filled_base_size} at {t.average_fill_price}, value {t.filled_value}, fees {t.fees}"
        )
    if t.failure_reason:
        raise CliError(t.failure_reason)


def _wait_until_final(services: Any, trade: Any, seconds: float = 5.0) -> Any:
    """Follow the order for a few seconds so the user sees the fill (sync is idempotent)."""
    import time

    from coinpilot.domain.types import TradeStatus

    deadline = time.monotonic() + seconds
    while (
        TradeStatus(trade.status)
        not in {TradeStatus.SETTLED, TradeStatus.FAILED, TradeStatus.CANCELLED, TradeStatus.EXPIRED}
        and time.monotonic() < deadline
    ):
        time.sleep(0.25)
        services.sync.sync_trade(trade.id)
        trade = services.trades.get_trade(trade.id) or trade
    return trade


def trades(limit: Annotated[int, typer.Option(help="how many")] = 20) -> None:
    """Recent trades in this mode."""
    from coinpilot.cli import formatting as fmt
    from coinpilot.cli.database import where
    from coinpilot.views.rows import recent_trades

    services = _services()
    table = fmt.table(
        "id", "time (UTC)", "bot", "side", "intent", "status", "filled", "price", "fees", "P&L",
        numeric=("id", "filled", "price", "fees", "P&L"),
    )  # fmt: skip
    increments: dict[str, tuple[Any, Any]] = {}

    def product_increments(pair: str) -> tuple[Any, Any]:
        if pair not in increments:
            try:
                p = services.market.get_product(pair)
                increments[pair] = (p.base_increment, p.price_increment or p.quote_increment)
            except Exception:  # a listing never fails for want of a product lookup
                increments[pair] = (None, None)
        return increments[pair]

    with services.sessions() as s:
        for t in recent_trades(s, services.mode, limit):
            base_inc, price_inc = product_increments(t["pair"])
            table.add_row(
                str(t["id"]),
                (t["created_at"] or "")[:19].replace("T", " "),
                t["bot_name"] or "",
                t["side"],
                t["intent"],
                t["status"],
                fmt.to_increment(t["filled_base_size"], base_inc),
                fmt.to_increment(t["average_fill_price"], price_inc),
                fmt.usd(t["fees"]),
                fmt.usd(t["realized_pnl"], signed=True),
            )
    console.print(where(services), highlight=False)
    console.print(table)


@exchange_app.command("check")
@one_line_errors
def exchange_check(pair: Annotated[str, typer.Option(help="product to look up")] = "BTC-USD") -> None:
    """Read-only Coinbase check: key, permissions, fee tier, clock skew. Places no order."""
    from coinpilot.exchange.check import run_exchange_check
    from coinpilot.exchange.coinbase import CoinbaseExchange

    settings = settings_or_exit()
    if not settings.has_coinbase_keys():
        raise CliError(
            "no Coinbase keys configured: set COINPILOT_COINBASE_API_KEY and COINPILOT_COINBASE_API_SECRET "
            "(or COINPILOT_COINBASE_KEY_FILE)"
        )
    report = run_exchange_check(CoinbaseExchange.from_settings(settings), pair=pair)
    for line in report.lines():
        console.print(line, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(trading_app, name="trading")
    app.add_typer(safety_app, name="safety")
    app.add_typer(exchange_app, name="exchange")
    app.command("kill")(one_line_errors(kill))
    app.command("release")(one_line_errors(release))
    app.command("trade")(one_line_errors(trade))
    app.command("trades")(one_line_errors(trades))
