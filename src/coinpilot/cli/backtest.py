"""``coinpilot backtest``: what a bot's settings would have done over past candles.

The run goes through the same decision kernel as live trading (``coinpilot.backtest.engine``),
with the paper exchange's fee and slippage and the configured safety limits; this module only
gathers the inputs, shows progress and writes the reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from coinpilot.cli.common import CliError, console, err_console, one_line, one_line_errors
from coinpilot.domain.types import Granularity

GRANULARITY_ALIASES = {
    "1m": Granularity.ONE_MINUTE,
    "5m": Granularity.FIVE_MINUTE,
    "15m": Granularity.FIFTEEN_MINUTE,
    "30m": Granularity.THIRTY_MINUTE,
    "1h": Granularity.ONE_HOUR,
    "2h": Granularity.TWO_HOUR,
    "6h": Granularity.SIX_HOUR,
    "1d": Granularity.ONE_DAY,
}
DATA_ERROR_EXIT = 2
LOOKAHEAD_EXIT = 3

# Paragraphs without line breaks inside: the help formatter wraps them to the terminal.
HELP = "\n\n".join(
    [
        "Backtest a bot's configuration over past candles, through the live decision kernel.",
        "Pick the configuration with --bot NAME (a stored bot) or --config FILE (JSON or TOML with the "
        "same fields as creating a bot over the API), and the candles with --pair PAIR (the shipped "
        "Coinbase history) or --data FILE (CSV or Parquet with timestamp, open, high, low, close, "
        "volume). Fees, slippage and safety limits are the configured paper-trading ones. A decision "
        "on a candle uses only data up to its close and fills at the next candle's open.",
        "Prints the figures beside buy-and-hold; --json and --html save the report (the HTML opens "
        "offline). --check-lookahead runs twice more (future candles perturbed; extra history "
        "prepended) and exits with code 3 if any earlier decision changed. Bad data exits with code 2.",
        "Example: coinpilot backtest --config bot.toml --pair BTC-USD --granularity 1h "
        "--from 2019-01-01 --to 2019-06-01 --html report.html",
    ]
)


def register(app: typer.Typer) -> None:
    app.command("backtest", help=HELP)(backtest)


def parse_granularity(raw: str | None) -> Granularity | None:
    if raw is None:
        return None
    key = raw.strip()
    if key.lower() in GRANULARITY_ALIASES:
        return GRANULARITY_ALIASES[key.lower()]
    try:
        return Granularity(key.upper())
    except ValueError:
        choices = ", ".join(GRANULARITY_ALIASES)
        raise CliError(f"--granularity {raw!r}: use one of {choices} (or ONE_HOUR, ...)") from None


def _decimal(raw: str, name: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CliError(f"{name} {raw!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise CliError(f"{name} {raw!r} must be a positive amount")
    return value


@one_line_errors
def backtest(
    bot: Annotated[str | None, typer.Option("--bot", help="a stored bot's name or id")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="JSON or TOML file of bot fields", dir_okay=False)
    ] = None,
    pair: Annotated[
        str | None,
        typer.Option("--pair", help="pair to test (default: the bot's); shipped data unless --data"),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV or Parquet candles instead of the shipped data")
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="first candle, e.g. 2019-01-01 (UTC)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="end (exclusive), e.g. 2019-07-01 (UTC)")] = None,
    granularity: Annotated[
        str | None,
        typer.Option("--granularity", help="1m, 5m, 15m, 30m, 1h, 2h, 6h, 1d (default: the bot's)"),
    ] = None,
    cash: Annotated[str, typer.Option("--cash", help="starting cash in the quote currency")] = "1000",
    json_path: Annotated[Path | None, typer.Option("--json", help="write the report as JSON")] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="write a self-contained HTML report")
    ] = None,
    check_lookahead: Annotated[
        bool, typer.Option("--check-lookahead", help="also check for look-ahead and history dependence")
    ] = False,
) -> None:
    from coinpilot.api import backtest_inputs as inputs
    from coinpilot.backtest.data import CandleDataError

    if (bot is None) == (config is None):
        raise CliError("give exactly one of --bot NAME or --config FILE")
    spec, note = _spec(bot, config, pair, parse_granularity(granularity), _decimal(cash, "--cash"))
    if note:
        err_console.print(f"note: {note}", highlight=False)
    try:
        full, candles = inputs.load_candles(
            spec.bot.pair,
            spec.bot.granularity,
            data_file=data,
            start=inputs.parse_when(since, "--from"),
            end=inputs.parse_when(until, "--to"),
        )
    except CandleDataError as exc:
        err_console.print(f"[red]error:[/red] {one_line(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(DATA_ERROR_EXIT) from None
    history = inputs.warmup_candles(spec.bot)
    candles = inputs.with_history(full, candles, history)
    run = _driver()
    result = _with_progress(lambda progress: run(spec, candles, progress=progress), len(candles))
    from coinpilot.backtest import metrics
    from coinpilot.cli.backtest_tables import print_report

    figures = metrics.compute(result)
    print_report(console, result, figures)
    speed = len(candles) / result.elapsed_seconds if result.elapsed_seconds > 0 else None
    console.print(
        f"{len(candles):,} candles in {result.elapsed_seconds:.2f} s"
        + (f" ({speed:,.0f} candles/s)" if speed else ""),
        highlight=False,
    )
    _write_reports(result, figures, json_path, html_path)
    if check_lookahead:
        _check_lookahead(run, spec, full, candles, result)


def _spec(
    bot_ref: str | None, config: Path | None, pair: str | None, granularity: Granularity | None, cash: Decimal
) -> tuple[Any, str | None]:
    import dataclasses

    from coinpilot.api import backtest_inputs as inputs
    from coinpilot.cli.common import settings_or_exit

    if bot_ref is not None:
        from coinpilot.cli.database import open_services
        from coinpilot.store import bots as bot_repo

        services = open_services()
        settings = services.settings
        try:
            with services.sessions() as s:
                row = bot_repo.get_bot_by_name_or_id(s, bot_ref)
                if row is None:
                    raise CliError(f"no bot named {bot_ref!r} (see 'coinpilot bots list')")
                cfg, label = bot_repo.bot_config(row), row.name
                strategy_raw: dict[str, Any] | None = row.strategy
        finally:
            services.close()  # only the bot's settings are needed: the run touches no database
    else:
        assert config is not None
        settings = settings_or_exit()
        values = inputs.read_config_file(config)
        if pair is not None:
            values.setdefault("pair", pair)
        cfg, strategy_raw = inputs.bot_from_fields(values, settings.safety_limits)
        label = str(values.get("name") or config.stem)
    if pair is not None and pair != cfg.pair:
        cfg = dataclasses.replace(cfg, pair=pair)
    return inputs.make_spec(
        inputs.with_granularity(cfg, granularity),
        strategy_raw,
        settings.safety_limits,
        fee_rate=settings.paper_fee_rate,
        slippage_bps=settings.paper_slippage_bps,
        starting_cash=cash,
        label=label,
    )


def _driver() -> Callable[..., Any]:
    try:
        from coinpilot.backtest.engine import run_backtest
    except ImportError as exc:  # pragma: no cover - only while the driver is not installed
        raise CliError(f"the backtest driver is not available ({exc})") from None
    driver: Callable[..., Any] = run_backtest
    return driver


def _with_progress(call: Callable[[Callable[..., None]], Any], total: int) -> Any:
    """Run ``call(progress)`` under a Rich progress bar on stderr (only on a terminal)."""
    if not err_console.is_terminal:
        return call(lambda *_: None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("backtest"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("run", total=total)

        def progress(done: float, of: float | None = None) -> None:
            fraction = done / of if of else done
            bar.update(task, completed=fraction * total if fraction <= 1 else fraction)

        return call(progress)


def _write_reports(result: Any, figures: Any, json_path: Path | None, html_path: Path | None) -> None:
    import json

    from coinpilot.backtest import report, report_html

    if json_path is not None:
        _atomic_write(json_path, json.dumps(report.to_dict(result, figures), indent=2) + "\n")
        console.print(f"wrote {json_path}", highlight=False)
    if html_path is not None:
        _atomic_write(html_path, report_html.render(result, figures))
        console.print(f"wrote {html_path}", highlight=False)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _check_lookahead(run: Callable[..., Any], spec: Any, full: Any, candles: Any, base: Any) -> None:
    """Two more runs: perturbed future (on the same candles, after the middle of the decision
    candles), prepended history (real history from before the run's candles when the data has
    it, else a quarter of the run's own candles become history)."""
    from coinpilot.backtest import lookahead

    def runner(c: Any, start: datetime | None) -> Any:
        return run(spec, c, start=start)

    n = len(candles)
    first = base.warmup_candles  # index of the first decision candle in ``candles``
    if n - first < 8:
        raise CliError(f"{n - first} decision candles are too few for --check-lookahead; use a longer period")
    lo = int((full.start < int(candles.start[0])).sum())  # candles of ``full`` before ``candles``
    wanted = max((n - first) // 4, 1)
    series = lookahead.slice_candles(full, lo - wanted, lo + n) if lo >= wanted else candles
    cuts = lookahead.future_cuts(base, candles, min((first + n) // 2, n - 2))
    started = time.perf_counter()
    future = lookahead.check_future(runner, candles, cuts, base=base)
    history = lookahead.check_history(runner, series, wanted)
    checked = lookahead.LookaheadReport(future, history)
    for outcome in (future, history):
        verdict = "[green]pass[/green]" if outcome.passed else "[red]CHANGED[/red]"
        console.print(
            f"look-ahead check, {outcome.name}: {verdict} ({outcome.compared} decisions; {outcome.note})",
            highlight=False,
        )
        for line in outcome.differences:
            console.print(f"  {line}", highlight=False)
    console.print(f"checks took {time.perf_counter() - started:.2f} s", highlight=False)
    if not checked.passed:
        raise typer.Exit(LOOKAHEAD_EXIT)
