"""Walk-forward parameter search with Optuna: scored on the past, reported on the future.

For every walk-forward fold (:func:`coinpilot.backtest.windows.walk_forward`) a study searches the
space (:mod:`coinpilot.backtest.search_space`) with the chosen sampler, scoring each trial on the
fold's *training* window only. The best parameters of each fold are then run once on that fold's
*test* window, which no trial of that fold saw. The report puts each window's in-sample and
out-of-sample figures side by side, shows how much each chosen parameter moved between windows
(a parameter that jumps across its whole range is fitted noise), and its headline figures are
out-of-sample only.

Determinism: each fold's sampler is seeded from ``seed`` and the fold number, and trials are asked
and told in fixed-size batches (``batch_size``, independent of how many workers run them), so the
same seed gives the same trials and the same report on one process, many, or a Dask cluster.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from coinpilot.backtest.objectives import OBJECTIVES
from coinpilot.backtest.search_space import (
    DEFAULT_GROUPS,
    SearchSpace,
    build_space,
    has_cooling_exit,
    params_to_patch,
)
from coinpilot.backtest.trials import Task, TrialContext, TrialExecutor, make_executor
from coinpilot.backtest.windows import Fold, WalkForwardMode, walk_forward
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles, Product

SAMPLERS = ("tpe", "random", "grid")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class OptimiseRequest:
    base_fields: dict[str, Any]
    limits: SafetyLimits
    product: Product
    objective: str = "sharpe"
    max_drawdown_pct: float | None = None
    sampler: str = "tpe"
    trials: int = 50  # per fold
    folds: int = 4
    train_fraction: float = 0.7
    mode: WalkForwardMode = "rolling"
    seed: int = 0
    groups: tuple[str, ...] = DEFAULT_GROUPS
    grid_points: int = 3
    batch_size: int = 8
    starting_cash: Decimal = Decimal(1000)
    fee_rate: Decimal = Decimal("0.006")
    slippage_bps: Decimal = Decimal(5)
    runner: Any = None  # tests: a backtest function to use instead of the kernel driver

    def problems(self) -> list[str]:
        out = []
        if self.objective not in OBJECTIVES:
            out.append(f"objective must be one of {', '.join(OBJECTIVES)}")
        if self.sampler not in SAMPLERS:
            out.append(f"sampler must be one of {', '.join(SAMPLERS)}")
        if self.trials < 1:
            out.append("trials must be at least 1")
        if self.batch_size < 1:
            out.append("batch size must be at least 1")
        if self.max_drawdown_pct is not None and not 0 < self.max_drawdown_pct <= 100:
            out.append("max drawdown must be a percentage in (0, 100]")
        if "cooling" in self.groups and not has_cooling_exit(self.base_fields):
            out.append(
                "the cooling group searches the cooling exit's period, and this bot has none "
                "(set strategy.cooling_exit_below first)"
            )
        return out


@dataclass
class _FoldSearch:
    fold: Fold
    study: Any
    trials: int
    figures: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.trials - len(self.figures)


def _sampler(name: str, seed: int, space: SearchSpace, grid_points: int) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return _AskTellGridSampler(space.grid(grid_points), seed=seed)


def _grid_sampler_class() -> Any:
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler stops ``study.optimize`` once the grid is done; with ask/tell
        there is nothing to stop (the optimiser asks exactly the grid's size), so it does not."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler


def _AskTellGridSampler(grid: dict[str, list[float | int]], seed: int) -> Any:
    return _grid_sampler_class()(grid, seed=seed)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def optimise(
    request: OptimiseRequest,
    candles: Candles,
    *,
    jobs: int = 1,
    dask_address: str | None = None,
    executor: TrialExecutor | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the walk-forward search over ``candles`` (loaded once) and return the report dict."""
    import optuna

    problems = request.problems()
    if problems:
        raise ValueError("; ".join(problems))
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = build_space(request.limits, candles.granularity, request.groups)
    folds = walk_forward(
        len(candles), folds=request.folds, train_fraction=request.train_fraction, mode=request.mode
    )
    trials = request.trials
    if request.sampler == "grid":
        trials = min(trials, space.grid_size(request.grid_points))
    searches = [
        _FoldSearch(
            f,
            optuna.create_study(
                direction="maximize",
                sampler=_sampler(request.sampler, request.seed * 1000 + f.number, space, request.grid_points),
            ),
            trials,
        )
        for f in folds
    ]
    ctx = TrialContext(
        candles=candles,
        base_fields=request.base_fields,
        limits=request.limits,
        product=request.product,
        objective=request.objective,
        max_drawdown_pct=request.max_drawdown_pct,
        starting_cash=request.starting_cash,
        fee_rate=request.fee_rate,
        slippage_bps=request.slippage_bps,
        runner=request.runner,
    )
    total = trials * len(folds) + len(folds)
    done = 0
    own_executor = executor is None
    pool = executor or make_executor(ctx, jobs=jobs, dask_address=dask_address)
    try:
        while any(s.remaining for s in searches):
            asked: list[tuple[_FoldSearch, Any]] = []
            tasks: list[Task] = []
            for s in searches:
                for _ in range(min(request.batch_size, s.remaining)):
                    trial = s.study.ask()
                    params = space.suggest(trial)
                    asked.append((s, trial))
                    f = s.fold
                    tasks.append(Task(f.number, "train", f.train_start, f.train_end, params, trial.number))
            for (s, trial), result in zip(asked, pool.map(tasks), strict=True):
                s.study.tell(trial, result["score"])
                s.figures[trial.number] = result
                done += 1
                if progress:
                    progress(done, total)
        best = [s.study.best_trial for s in searches]
        tests = [
            Task(s.fold.number, "test", s.fold.test_start, s.fold.test_end, space.clean(b.params), b.number)
            for s, b in zip(searches, best, strict=True)
        ]
        out_of_sample = list(pool.map(tests))
        done += len(tests)
        if progress:
            progress(done, total)
    finally:
        if own_executor:
            pool.close()
    return _report(request, candles, space, searches, best, out_of_sample, time.perf_counter() - started)


def _report(
    request: OptimiseRequest,
    candles: Candles,
    space: SearchSpace,
    searches: list[_FoldSearch],
    best: list[Any],
    out_of_sample: list[dict[str, Any]],
    elapsed: float,
) -> dict[str, Any]:
    windows = []
    for s, b, oos in zip(searches, best, out_of_sample, strict=True):
        f = s.fold
        windows.append(
            {
                "fold": f.number,
                "train": {
                    "from": _iso(int(candles.start[f.train_start])),
                    "to": _iso(int(candles.start[f.train_end - 1])),
                    "candles": f.train_len,
                },
                "test": {
                    "from": _iso(int(candles.start[f.test_start])),
                    "to": _iso(int(candles.start[f.test_end - 1])),
                    "candles": f.test_len,
                },
                "trials": len(s.figures),
                "best_trial": b.number,
                "params": space.clean(b.params),
                "in_sample": s.figures[b.number],
                "out_of_sample": oos,
            }
        )
    growth = 1.0
    for oos in out_of_sample:
        growth *= 1.0 + oos["return_pct"] / 100.0
    suggested = space.clean(best[-1].params)
    patch = params_to_patch(request.base_fields, suggested, candles.granularity)
    return {
        "pair": candles.pair,
        "granularity": candles.granularity.value,
        "data": {
            "from": _iso(int(candles.start[0])),
            "to": _iso(int(candles.start[-1])),
            "candles": len(candles),
        },
        "settings": {
            "objective": request.objective,
            "max_drawdown_pct": request.max_drawdown_pct,
            "sampler": request.sampler,
            "trials_per_fold": searches[0].trials if searches else 0,
            "folds": request.folds,
            "train_fraction": request.train_fraction,
            "mode": request.mode,
            "seed": request.seed,
            "groups": list(request.groups),
            "batch_size": request.batch_size,
            "starting_cash": str(request.starting_cash),
            "fee_rate": str(request.fee_rate),
            "slippage_bps": str(request.slippage_bps),
        },
        "windows": windows,
        "out_of_sample": {
            "compounded_return_pct": (growth - 1.0) * 100.0,
            "worst_window_drawdown_pct": max((o["max_drawdown_pct"] for o in out_of_sample), default=0.0),
            "mean_sharpe": statistics.fmean(o["sharpe"] for o in out_of_sample) if out_of_sample else 0.0,
            "fills": sum(int(o["fills"]) for o in out_of_sample),
            "candles": sum(int(o["candles"]) for o in out_of_sample),
        },
        "stability": stability(space, [w["params"] for w in windows]),
        "suggested": {"from_fold": windows[-1]["fold"] if windows else None, "params": suggested},
        "suggested_patch": _jsonable(patch),
        "elapsed_seconds": elapsed,
    }


def stability(space: SearchSpace, chosen: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per parameter: the value each window chose, their spread, and the spread as a share of
    the searched range (0: every window agreed; 1: the choices span the whole range)."""
    out: dict[str, dict[str, Any]] = {}
    for p in space.params:
        values = [c[p.name] for c in chosen if p.name in c]
        if not values:
            continue
        spread = max(values) - min(values)
        width = p.high - p.low
        out[p.name] = {
            "values": values,
            "min": min(values),
            "max": max(values),
            "median": statistics.median(values),
            "spread": spread,
            "spread_of_range": spread / width if width > 0 else 0.0,
        }
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
