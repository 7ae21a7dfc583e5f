"""``coinpilot escalation|tokens|audit``: risk escalation, named API tokens and the audit trail.

Like the other control commands these act on the configured database directly, so they work
whether or not a server runs. Changes made here are recorded with the actor ``cli``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from coinpilot.cli.common import CliError, console, one_line_errors, settings_or_exit

escalation_app = typer.Typer(
    help="Gradual risk escalation: production starts at canary caps; a person approves each step up.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(help="Named API tokens (several, each revocable).", no_args_is_help=True)


def _services() -> Any:
    from coinpilot.services import build_services

    return build_services(settings_or_exit())


def _print_escalation(status: dict[str, Any]) -> None:
    if not status.get("escalated"):
        console.print(f"mode: [bold]{status['mode']}[/bold] — {status['note']}")
        return
    step, record = status["step"], status["record"]
    console.print(
        f"step [bold]{step['number']} ({step['name']})[/bold] since {status['step_since']}: "
        f"max ${step['max_trade_usd'] or 'configured'} a trade, "
        f"{step['max_daily_trades'] or 'configured'} trades a day"
    )
    console.print(
        f"record at this step: {record['settled_trades']} settled, {record['failed_orders']} failed, "
        f"{record['drift_incidents']} drift, {record['breaker_trips']} breaker trips"
    )
    nxt = status["next_step"]
    if nxt is None:
        console.print("at the top step: the configured limits apply")
    elif status["can_approve"]:
        console.print(
            f"[green]ready[/green] for step {nxt['number']} ({nxt['name']}): 'coinpilot escalation approve'"
        )
    else:
        console.print(f"step {nxt['number']} ({nxt['name']}) needs: " + "; ".join(status["missing"]))


@escalation_app.command("status")
@one_line_errors
def escalation_status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The step production trades at, its record, and what the next step requires."""
    status = _services().escalation.status()
    if as_json:
        console.print_json(json.dumps(status))
    else:
        _print_escalation(status)


@escalation_app.command("approve")
@one_line_errors
def escalation_approve() -> None:
    """Move production up one step (only after a clean record at the current step)."""
    from coinpilot.domain.escalation import EscalationRefused

    try:
        status = _services().escalation.approve("cli")
    except EscalationRefused as exc:
        raise CliError(f"not approved: {exc}") from None
    _print_escalation(status)


@tokens_app.command("create")
@one_line_errors
def tokens_create(name: Annotated[str, typer.Argument(help="who uses it, e.g. alice or grafana")]) -> None:
    """Create a named token and print its secret once (only a hash is stored)."""
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_change
    from coinpilot.store.repos.tokens import TokenError, create_token

    services = _services()
    try:
        with session_scope(services.sessions) as s:
            secret = create_token(s, name, services.clock.now())
            record_change(
                s,
                at=services.clock.now(),
                actor="cli",
                mode=services.mode,
                action="token_created",
                after={"name": name},
            )
    except TokenError as exc:
        raise CliError(str(exc)) from None
    console.print(f"token [bold]{name}[/bold] created; it is shown only now:", highlight=False)
    print(secret)  # plain, so it can be piped


@tokens_app.command("list")
@one_line_errors
def tokens_list() -> None:
    """Token names and whether they are active (never the secrets)."""
    from coinpilot.store.repos.tokens import list_tokens

    services = _services()
    table = Table("name", "created", "revoked")
    table.add_row("default", "COINPILOT_API_TOKEN / api_token file", "")
    with services.sessions() as s:
        for t in list_tokens(s):
            table.add_row(t.name, t.created_at.isoformat(), t.revoked_at.isoformat() if t.revoked_at else "")
    console.print(table)


@tokens_app.command("revoke")
@one_line_errors
def tokens_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: it stops working at once."""
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_change
    from coinpilot.store.repos.tokens import TokenError, revoke_token

    services = _services()
    try:
        with session_scope(services.sessions) as s:
            revoke_token(s, name, services.clock.now())
            record_change(
                s,
                at=services.clock.now(),
                actor="cli",
                mode=services.mode,
                action="token_revoked",
                before={"name": name},
            )
    except TokenError as exc:
        raise CliError(str(exc)) from None
    console.print(f"token {name} revoked")


@one_line_errors
def audit(
    actor: Annotated[str | None, typer.Option(help="token name, cli, system…")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. bot_updated, emergency_stop")] = None,
    bot: Annotated[int | None, typer.Option(help="bot id")] = None,
    refusals: Annotated[bool, typer.Option("--refusals", help="safety refusals instead of changes")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many (newest first)")] = 50,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="write CSV to this file ('-' for standard output)")
    ] = None,
) -> None:
    """The audit trail: who changed what and when, with before and after."""
    from coinpilot.store.db import read_session
    from coinpilot.store.repos import audit_trail

    services = _services()
    with read_session(services.sessions) as s:
        items = audit_trail.query(
            s,
            source="refusals" if refusals else "changes",
            actor=actor,
            action=action,
            bot_id=bot,
            limit=limit,
        )
    if csv_file is not None:
        fh = sys.stdout if str(csv_file) == "-" else csv_file.open("w", newline="")
        writer = csv.writer(fh)
        writer.writerow(audit_trail.CSV_COLUMNS)
        for item in items:
            writer.writerow(
                [
                    json.dumps(item[c], sort_keys=True) if isinstance(item[c], dict | list) else item[c]
                    for c in audit_trail.CSV_COLUMNS
                ]
            )
        if fh is not sys.stdout:
            fh.close()
            console.print(f"{len(items)} entries written to {csv_file}")
        return
    table = Table("id", "time (UTC)", "who", "action", "bot", "before", "after")
    for e in items:
        table.add_row(
            str(e["id"]),
            e["at"][:19],
            e["actor"],
            e["action"],
            str(e["bot_id"] or ""),
            json.dumps(e["before"]) if e["before"] is not None else "",
            json.dumps(e["after"]) if e["after"] is not None else json.dumps(e["detail"])[:80],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(escalation_app, name="escalation")
    app.add_typer(tokens_app, name="tokens")
    app.command("audit")(audit)
