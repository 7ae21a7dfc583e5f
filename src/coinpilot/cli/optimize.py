"""``coinpilot optimize``: walk-forward parameter search, stored runs, and applying a suggestion.

- ``coinpilot optimize --bot NAME`` (or ``--config FILE``, or neither: the defaults of a new bot)
  searches over candles (``--pair`` shipped data or ``--data FILE``) and prints each window's
  in-sample and out-of-sample figures side by side, the parameters' stability across windows and
  the suggested settings; the run is stored (``--no-save`` to skip).
- ``--list`` compares stored runs; ``--show ID`` prints one again.
- ``--apply ID --bot NAME`` applies a run's suggestion through the same checks and safety caps as
  ``coinpilot bots edit`` (nothing changes when any check fails) and audits it with before/after.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from coinpilot.cli.common import CliError, console, one_line_errors
from coinpilot.domain.types import Granularity


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def _when(option: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{option}: {text!r} is not a date (e.g. 2024-01-31 or 2024-01-31T12:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_candles(
    pair: str,
    data: Path | None,
    granularity: Granularity | None,
    source: str | None,
    start: str | None,
    end: str | None,
) -> Any:
    """The series to optimise over, loaded once (checked: bad rows are refused by name)."""
    from coinpilot.backtest.data import CandleDataError, read_file, shipped_candles, window

    try:
        candles = (
            read_file(data, pair, granularity or Granularity.ONE_HOUR)
            if data is not None
            else shipped_candles(pair, granularity, source)
        )
    except CandleDataError as exc:
        raise CliError(str(exc)) from None
    candles = window(candles, _when("--from", start), _when("--to", end))
    if not len(candles):
        raise CliError("no candles between --from and --to")
    return candles


def base_fields(
    services: Any, bot: str | None, config: Path | None, pair: str | None
) -> tuple[dict[str, Any], str]:
    """The bot fields the search starts from and modifies, and the pair."""
    if bot is not None:
        from coinpilot.cli.bots import _find
        from coinpilot.views import rows as views

        with services.sessions() as s:
            fields = views.bot_dict(_find(s, bot))
        return fields, str(fields["pair"])
    from coinpilot.api.backtest_inputs import read_config_file
    from coinpilot.api.bot_schemas import BotCreate

    raw: dict[str, Any] = read_config_file(config) if config is not None else {}
    chosen = pair or raw.get("pair") or "BTC-USD"
    values = {"name": "optimised", **raw, "pair": chosen}
    try:
        fields = BotCreate.model_validate(values).model_dump()
    except ValueError as exc:
        raise CliError(f"--config: {exc}") from None
    return fields, str(chosen)


@one_line_errors
def optimize(
    bot: Annotated[str | None, typer.Option(help="bot (id or name) to start from, and --apply to")] = None,
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file of bot fields to start from")] = None,
    pair: Annotated[
        str | None, typer.Option(help="pair of the shipped data (default: the bot's or BTC-USD)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="CSV/Parquet candles: timestamp,open,high,low,close,volume")
    ] = None,
    source: Annotated[str | None, typer.Option(help="shipped data: hourly, hourly_2024, minute_2020")] = None,
    granularity: Annotated[
        str | None, typer.Option(help="1m, 5m, 15m, 30m, 1h, 2h, 6h, 1d (default: the bot's)")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="first candle (ISO date, UTC)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="end (exclusive)")] = None,
    objective: Annotated[str, typer.Option(help="sharpe, calmar, profit or profit-dd")] = "sharpe",
    max_drawdown: Annotated[
        float | None, typer.Option(help="drawdown cap in % (implies objective profit-dd unless one is given)")
    ] = None,
    sampler: Annotated[str, typer.Option(help="tpe, random or grid")] = "tpe",
    trials: Annotated[int, typer.Option(help="trials per walk-forward window")] = 50,
    folds: Annotated[int, typer.Option(help="walk-forward windows")] = 4,
    train_fraction: Annotated[float, typer.Option(help="share of a window that is training")] = 0.7,
    walk: Annotated[str, typer.Option(help="rolling or anchored training windows")] = "rolling",
    space: Annotated[
        str,
        typer.Option(
            help="parameter groups: thresholds,weights,periods,timing,sizing,tranches,ladder,stops,cooling"
            " (cooling: a bot with a cooling exit; all includes it then)"
        ),
    ] = "all",
    grid_points: Annotated[int, typer.Option(help="grid sampler: values per parameter")] = 3,
    seed: Annotated[int, typer.Option(help="same seed, same result")] = 0,
    jobs: Annotated[int, typer.Option(help="local processes running trials")] = 1,
    dask: Annotated[
        str | None, typer.Option(help="Dask scheduler address (or COINPILOT_DASK_ADDRESS)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="trials asked of the sampler at a time")] = 8,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON")] = None,
    save: Annotated[bool, typer.Option(help="store the run (compare with --list)")] = True,
    list_runs: Annotated[bool, typer.Option("--list", help="list stored runs")] = False,
    show: Annotated[int | None, typer.Option(help="print a stored run")] = None,
    apply: Annotated[int | None, typer.Option(help="apply a stored run's suggestion to --bot")] = None,
) -> None:
    """Search a bot's settings with walk-forward validation; figures reported are out-of-sample."""
    from coinpilot.cli.database import open_services
    from coinpilot.cli.optimize_report import print_report, print_runs

    services = open_services()
    if list_runs:
        print_runs(services)
        return
    if show is not None:
        print_report(_stored_report(services, show), run_id=show)
        return
    if apply is not None:
        if bot is None:
            raise CliError("--apply needs --bot NAME: the bot to change")
        apply_run(services, apply, bot, actor="cli")
        return

    from coinpilot.api.backtest_inputs import product_for
    from coinpilot.backtest.optimize import OptimiseRequest, optimise
    from coinpilot.backtest.search_space import build_space, groups_for
    from coinpilot.cli.backtest import parse_granularity

    fields, chosen_pair = base_fields(services, bot, config, pair)
    chosen = parse_granularity(granularity) or Granularity(fields.get("granularity", "ONE_HOUR"))
    fields = {**fields, "granularity": chosen.value}
    candles = load_candles(chosen_pair, data, chosen, source, start, end)
    if max_drawdown is not None and objective == "sharpe":
        objective = "profit-dd"
    groups = groups_for(fields) if space == "all" else tuple(g.strip() for g in space.split(",") if g.strip())
    settings = services.settings
    request = OptimiseRequest(
        base_fields=fields,
        limits=settings.safety_limits,
        product=product_for(chosen_pair)[0],
        objective=objective,
        max_drawdown_pct=max_drawdown,
        sampler=sampler,
        trials=trials,
        folds=folds,
        train_fraction=train_fraction,
        mode=walk,  # type: ignore[arg-type]
        seed=seed,
        groups=groups,
        grid_points=grid_points,
        batch_size=batch_size,
        starting_cash=settings.paper_starting_usd,
        fee_rate=settings.paper_fee_rate,
        slippage_bps=settings.paper_slippage_bps,
    )
    problems = request.problems()
    try:
        build_space(request.limits, candles.granularity, request.groups)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise CliError("; ".join(problems))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("optimising"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("trials", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = optimise(
                request, candles, jobs=jobs, dask_address=dask or settings.dask_address, progress=tick
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
    run_id = None
    if save:
        from coinpilot.store.db import session_scope
        from coinpilot.store.repos.optimisation import save_run

        with session_scope(services.sessions) as s:
            run_id = save_run(s, report, services.clock.now(), bot).id
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print_report(report, run_id=run_id)


def _stored_report(services: Any, run_id: int) -> dict[str, Any]:
    from coinpilot.store.repos.optimisation import get_run

    with services.sessions() as s:
        row = get_run(s, run_id)
        if row is None:
            raise CliError(f"no optimisation run {run_id}: see 'coinpilot optimize --list'")
        return dict(row.report)


def apply_run(services: Any, run_id: int, bot: str, actor: str) -> dict[str, Any]:
    """Apply run ``run_id``'s suggested settings to ``bot`` through the edit path; audited.

    Refused (nothing stored) when the bot trades another pair than the run's data, or when any
    value fails the bot validation or the safety caps in force now (they may be stricter than
    when the run was made).
    """
    from coinpilot.cli.bot_edit import store_edit
    from coinpilot.cli.bots import _find
    from coinpilot.store.db import session_scope
    from coinpilot.store.repos.audit_trail import record_optimisation_applied

    report = _stored_report(services, run_id)
    patch = dict(report.get("suggested_patch") or {})
    if not patch:
        raise CliError(f"optimisation run {run_id} has no suggested settings")
    with session_scope(services.sessions) as s:
        row = _find(s, bot)
        if row.pair != report["pair"]:
            raise CliError(
                f"optimisation run {run_id} was made on {report['pair']}; bot {row.name!r} trades {row.pair}"
            )
        if "trade_size_usd" in patch:
            patch["trade_size_usd"] = Decimal(str(patch["trade_size_usd"]))
        before, after = store_edit(s, services, row, patch)
        if after:
            record_optimisation_applied(
                s,
                at=services.clock.now(),
                actor=actor,
                mode=services.mode,
                bot_id=row.id,
                before=before,
                after=after,
                source=f"optimisation run {run_id}",
            )
        name = row.name
    changed = ", ".join(sorted(after)) or "nothing (the bot already had these settings)"
    console.print(f"bot {name!r}: applied optimisation run {run_id}: {changed}", highlight=False)
    return after
