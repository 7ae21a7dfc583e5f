"""``coinpilot bots edit`` and ``coinpilot bots delete``, and the parsing of typed-in numbers.

Money and percentages are typed as text and parsed here into ``Decimal`` (never through float),
so ``--trade-size abc`` is one line naming the option, not a traceback. Edits go through the same
checks as the API (:mod:`coinpilot.engine.bots.admin`): nothing is stored when any check fails.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from coinpilot.cli.common import CliError, console, one_line_errors
from coinpilot.domain.types import Granularity

OFF_WORDS = frozenset({"off", "none", ""})


def parse_decimal(option: str, text: str) -> Decimal:
    """``text`` as a finite Decimal, or a CliError naming ``option``."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except (InvalidOperation, ValueError):
        raise CliError(f"{option}: {text!r} is not a number (e.g. 10 or 2.5)") from None
    if not value.is_finite():
        raise CliError(f"{option}: {text!r} is not a finite number")
    return value


def parse_optional_pct(option: str, text: str) -> Decimal | None:
    """A percentage, or None for ``off`` (e.g. ``--trailing-stop off`` removes the trailing stop)."""
    return None if text.strip().lower() in OFF_WORDS else parse_decimal(option, text)


def parse_ladder(text: str) -> list[list[str]]:
    """``"10:30,20:50"`` (gain %:sell %, rung by rung) → ``[["10", "30"], ["20", "50"]]``; ``off`` → []."""
    if text.strip().lower() in OFF_WORDS:
        return []
    rungs: list[list[str]] = []
    for part in text.split(","):
        gain, sep, sell = part.partition(":")
        if not sep:
            raise CliError(f"--ladder: {part.strip()!r} should be GAIN:SELL, e.g. 10:30")
        rungs.append([str(parse_decimal("--ladder", gain)), str(parse_decimal("--ladder", sell))])
    return rungs


def parse_signal_settings(items: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """Apply ``rsi.weight=0.5``-style settings (or a top-level one such as
    ``min_data_weight=0.8``) to a copy of the signal config."""
    out = {name: dict(v) if isinstance(v, dict) else v for name, v in current.items()}
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, field = key.strip().partition(".")
        sections = [name for name, v in out.items() if isinstance(v, dict)]
        if not sep or (not dot and section in sections):
            raise CliError(f"--signal: {item!r} should be SIGNAL.FIELD=VALUE, e.g. rsi.weight=0.5")
        if dot and section not in sections:
            raise CliError(f"--signal: unknown signal {section!r} (use {', '.join(sections)})")
        value: Any
        text = raw.strip()
        if text.lower() in ("true", "on", "yes"):
            value = True
        elif text.lower() in ("false", "off", "no"):
            value = False
        elif field == "ma_type":
            value = text
        else:
            number = parse_decimal(f"--signal {key}", text)
            value = int(number) if number == number.to_integral_value() and "." not in text else float(number)
        if dot:
            out[section][field] = value
        else:
            out[section] = value  # a top-level setting; an unknown one is refused by the checks
    return out


def store_edit(
    session: Any, services: Any, row: Any, patch: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``patch`` to the bot ``row`` through every check a manual edit passes (not archived,
    field rules and the safety caps in force), or raise ``BotConflict`` / ``FieldValidationError``
    and store nothing.

    Returns the changed fields (before, after) for the caller's audit entry, written in the same
    transaction. ``coinpilot optimize --apply`` goes through here too, so a suggestion can never
    reach a bot by a path a person's edit could not take.
    """
    from coinpilot.api.field_errors import FieldValidationError
    from coinpilot.engine.bots import admin as bot_admin
    from coinpilot.store import bots as bot_repo
    from coinpilot.store.repos.audit_trail import changed_fields
    from coinpilot.views import rows as views

    bot_admin.refuse_if_archived(row, "edited")
    current = views.bot_dict(row)
    errors = bot_admin.edit_problems(current, patch, services.settings.safety_limits)
    if errors:
        raise FieldValidationError(errors)
    bot_repo.update_bot(session, row, bot_admin.normalise(patch), services.clock.now())
    return changed_fields(current, views.bot_dict(row))


def register(app: typer.Typer) -> None:
    """Add ``edit`` and ``delete`` to the ``bots`` command group."""
    app.command("edit")(edit)
    app.command("delete")(delete)


@one_line_errors
def edit(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    name: Annotated[str | None, typer.Option(help="new name")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    trade_size: Annotated[str | None, typer.Option(help="USD per entry tranche")] = None,
    buy_threshold: Annotated[str | None, typer.Option(help="buy when score >= this (0, 1]")] = None,
    sell_threshold: Annotated[str | None, typer.Option(help="sell when score <= -this (0, 1]")] = None,
    confirmation_minutes: Annotated[str | None, typer.Option(help="how long an action must hold")] = None,
    cooldown_minutes: Annotated[str | None, typer.Option(help="pause after a fill")] = None,
    max_tranches: Annotated[str | None, typer.Option(help="entries per position")] = None,
    granularity: Annotated[Granularity | None, typer.Option(help="candle size")] = None,
    signal: Annotated[
        list[str] | None, typer.Option(help="signal setting, repeatable: rsi.weight=0.5, macd.enabled=false")
    ] = None,
    sizing: Annotated[str | None, typer.Option(help="fixed, graduated or pyramid")] = None,
    dca_step: Annotated[
        str | None, typer.Option(help="% below the last entry before the next tranche")
    ] = None,
    pyramid_factor: Annotated[str | None, typer.Option(help="pyramid: each tranche × this")] = None,
    ladder: Annotated[
        str | None, typer.Option(help="take-profit rungs GAIN:SELL,… e.g. 10:30,20:50; off")
    ] = None,
    stop_loss: Annotated[str | None, typer.Option(help="stop-loss % below the average entry; off")] = None,
    trailing_stop: Annotated[str | None, typer.Option(help="trailing stop % below the high; off")] = None,
    exit_on_sell: Annotated[bool | None, typer.Option(help="sell everything on a confirmed SELL")] = None,
) -> None:
    """Change a bot's settings; every value is checked before anything is stored."""
    from coinpilot.cli.bots import _find, _services
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_change
    from coinpilot.views import rows as views

    patch: dict[str, Any] = {}
    for key, text in (("name", name), ("description", description)):
        if text is not None:
            patch[key] = text
    if trade_size is not None:
        patch["trade_size_usd"] = parse_decimal("--trade-size", trade_size)
    for key, text in (
        ("buy_threshold", buy_threshold),
        ("sell_threshold", sell_threshold),
        ("confirmation_minutes", confirmation_minutes),
        ("cooldown_minutes", cooldown_minutes),
    ):
        if text is not None:
            patch[key] = float(parse_decimal("--" + key.replace("_", "-"), text))
    if max_tranches is not None:
        number = parse_decimal("--max-tranches", max_tranches)
        if number != number.to_integral_value():
            raise CliError(f"--max-tranches: {max_tranches!r} is not a whole number")
        patch["max_tranches"] = int(number)
    if granularity is not None:
        patch["granularity"] = granularity
    strategy_changes: dict[str, Any] = {}
    if sizing is not None:
        strategy_changes["sizing"] = sizing
    if dca_step is not None:
        strategy_changes["dca_step_pct"] = str(parse_decimal("--dca-step", dca_step))
    if pyramid_factor is not None:
        strategy_changes["pyramid_factor"] = str(parse_decimal("--pyramid-factor", pyramid_factor))
    if ladder is not None:
        strategy_changes["take_profit_ladder"] = parse_ladder(ladder)
    for key, text, option in (
        ("stop_loss_pct", stop_loss, "--stop-loss"),
        ("trailing_stop_pct", trailing_stop, "--trailing-stop"),
    ):
        if text is not None:
            pct = parse_optional_pct(option, text)
            strategy_changes[key] = None if pct is None else str(pct)
    if exit_on_sell is not None:
        strategy_changes["exit_on_sell_signal"] = exit_on_sell
    if not patch and not strategy_changes and not signal:
        raise CliError("nothing to change: give at least one option (see 'coinpilot bots edit --help')")

    services = _services()
    with session_scope(services.sessions) as s:
        row = _find(s, bot)
        current = views.bot_dict(row)
        if signal:
            patch["signal_config"] = parse_signal_settings(signal, current["signal_config"])
        if strategy_changes:
            patch["strategy"] = {**(current["effective_strategy"] or current["strategy"]), **strategy_changes}
        before, after = store_edit(s, services, row, patch)
        if after:
            record_change(
                s,
                at=services.clock.now(),
                actor="cli",
                mode=services.mode,
                action="bot_updated",
                bot_id=row.id,
                before=before,
                after=after,
            )
        changed = ", ".join(sorted(patch))
        console.print(f"bot {row.id} {row.name!r} updated: {changed}", highlight=False)


@one_line_errors
def delete(
    bot: Annotated[str, typer.Argument(help="bot id or name")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a bot, or archive it when it has trade history (its trades are kept); says why
    and changes nothing when it holds a position, has an unfinished trade or (to be archived)
    is not STOPPED."""
    from coinpilot.cli.bots import _find, _services
    from coinpilot.engine.bots import admin as bot_admin
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_change
    from coinpilot.views import rows as views

    services = _services()
    with session_scope(services.sessions) as s:
        row = _find(s, bot)
        reason = bot_admin.delete_refusal(s, row)
        if reason is not None:
            raise CliError(reason)
        history = bot_admin.trade_history(s, row)
        verb = "archive" if history else "delete"
        if not yes and not typer.confirm(f"{verb} bot {row.id} {row.name!r} on {row.pair}?"):
            raise CliError(f"not {verb}d")
        label = f"bot {row.id} {row.name!r}"
        now = services.clock.now()
        record_change(
            s,
            at=now,
            actor="cli",
            mode=services.mode,
            action="bot_archived" if history else "bot_deleted",
            bot_id=row.id,
            before=views.bot_dict(row),
            after={"archived_at": now.isoformat()} if history else None,
        )
        bot_admin.delete_bot(s, row, now)
    if history:
        console.print(
            f"archived {label} instead of deleting it: its {history} trade(s) are kept for analytics, "
            "exports and the audit; it no longer shows in the overview or runs",
            highlight=False,
        )
    else:
        console.print(f"deleted {label}", highlight=False)
