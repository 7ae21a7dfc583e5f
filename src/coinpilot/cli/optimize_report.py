"""Printing optimisation reports: windows side by side, parameter stability, stored runs."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from coinpilot.cli.common import console


def _pct(x: float) -> str:
    return f"{x:+.2f}%"


def _num(x: float) -> str:
    return f"{x:.2f}"


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def print_report(report: dict[str, Any], run_id: int | None = None) -> None:
    s = report["settings"]
    title = f"run {run_id}: " if run_id is not None else ""
    console.print(
        f"[bold]{title}{report['pair']} {report['granularity']}[/bold] {report['data']['from'][:16]} → "
        f"{report['data']['to'][:16]} ({report['data']['candles']:,} candles); objective {s['objective']}"
        + (f" (drawdown cap {s['max_drawdown_pct']:g}%)" if s.get("max_drawdown_pct") else "")
        + f", sampler {s['sampler']}, {s['trials_per_fold']} trials × {len(report['windows'])} {s['mode']} "
        f"windows, seed {s['seed']}, {report['elapsed_seconds']:.1f} s",
        highlight=False,
    )
    table = Table(title="walk-forward windows: in-sample (training) | out-of-sample (test)")
    for col in (
        "#",
        "train",
        "test",
        "IS score",
        "IS return",
        "IS max DD",
        "OOS score",
        "OOS return",
        "OOS max DD",
        "OOS fills",
    ):
        table.add_column(col, justify="right" if col not in ("train", "test") else "left")
    for w in report["windows"]:
        i, o = w["in_sample"], w["out_of_sample"]
        table.add_row(
            str(w["fold"]),
            f"{w['train']['from'][:10]}…{w['train']['to'][:10]}",
            f"{w['test']['from'][:10]}…{w['test']['to'][:10]}",
            _num(i["score"]),
            _pct(i["return_pct"]),
            f"{i['max_drawdown_pct']:.2f}%",
            _num(o["score"]),
            _pct(o["return_pct"]),
            f"{o['max_drawdown_pct']:.2f}%",
            str(o["fills"]),
        )
    console.print(table)
    oos = report["out_of_sample"]
    console.print(
        "[bold]out-of-sample[/bold] (the only figures to trust): "
        f"return {_pct(oos['compounded_return_pct'])} "
        f"compounded over the test windows, worst window drawdown {oos['worst_window_drawdown_pct']:.2f}%, "
        f"mean Sharpe {oos['mean_sharpe']:.2f}, {oos['fills']} fills on {oos['candles']:,} candles",
        highlight=False,
    )
    stab = Table(title="parameter stability across windows (spread 0 = every window chose the same)")
    for col in ("parameter", "chosen per window", "median", "spread of range"):
        stab.add_column(col, justify="left" if col in ("parameter", "chosen per window") else "right")
    for name, st in report["stability"].items():
        flag = " (unstable)" if st["spread_of_range"] > 0.5 else ""
        stab.add_row(
            name,
            ", ".join(_value(v) for v in st["values"]),
            _value(st["median"]),
            f"{st['spread_of_range'] * 100:.0f}%{flag}",
        )
    console.print(stab)
    sug = report["suggested"]
    console.print(
        f"suggested settings (best of window {sug['from_fold']}, the most recent): "
        + ", ".join(f"{k}={_value(v)}" for k, v in sug["params"].items()),
        highlight=False,
        soft_wrap=True,
    )
    if run_id is not None:
        console.print(f"apply with: coinpilot optimize --apply {run_id} --bot NAME", highlight=False)


def print_runs(services: Any) -> None:
    from coinpilot.store.repos.optimisation import list_runs

    with services.sessions() as s:
        rows = list_runs(s)
        table = Table(title="optimisation runs (figures are out-of-sample)")
        for col in (
            "id",
            "at",
            "pair",
            "base bot",
            "objective",
            "sampler",
            "trials × windows",
            "seed",
            "OOS return",
            "worst DD",
            "seconds",
        ):
            table.add_column(col)
        for r in rows:
            oos = r.report["out_of_sample"]
            table.add_row(
                str(r.id),
                r.created_at.isoformat()[:16],
                f"{r.pair} {r.granularity}",
                r.base_bot or "-",
                r.objective,
                r.sampler,
                f"{r.trials} × {r.folds}",
                str(r.seed),
                _pct(r.oos_return_pct),
                f"{oos['worst_window_drawdown_pct']:.2f}%",
                f"{r.elapsed_seconds:.1f}",
            )
    console.print(table)
