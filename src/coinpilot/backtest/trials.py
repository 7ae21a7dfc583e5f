"""Running optimisation trials: one backtest per (window, parameters), here, on local processes or
on a Dask cluster — with the same answer whichever runs them.

The candles and the base configuration travel once to each worker (:class:`TrialContext`: a
process pool's initializer, or a Dask ``scatter(broadcast=True)``); a :class:`Task` is only a
window and a small parameter dict, and a result is a few floats. :func:`evaluate` is a pure
function of (context, task), so the order and place of evaluation cannot change a result: the
optimiser's determinism for a seed rests on that.

A window is run with the history before it available for warm-up (the signals' required
candles) and decisions only inside it (``start=``); nothing after the window's end is passed
to the backtest at all, so a training run cannot see its fold's test candles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from coinpilot.backtest.objectives import figures, score
from coinpilot.backtest.result import BacktestResult, BacktestSpec
from coinpilot.backtest.search_space import params_to_patch
from coinpilot.domain.bot import bot_config_from_fields
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles, Product
from coinpilot.domain.signal_config import required_candles

Runner = Callable[..., BacktestResult]


@dataclass(frozen=True)
class TrialContext:
    """Everything every trial shares: shipped to each worker once."""

    candles: Candles
    base_fields: dict[str, Any]
    limits: SafetyLimits
    product: Product
    objective: str
    max_drawdown_pct: float | None = None
    starting_cash: Decimal = Decimal(1000)
    fee_rate: Decimal = Decimal("0.006")
    slippage_bps: Decimal = Decimal(5)
    runner: Runner | None = None  # None: the kernel's backtest driver


@dataclass(frozen=True)
class Task:
    """Backtest ``params`` with decisions on candles ``[start, end)`` (indices into the series)."""

    fold: int
    phase: str  # "train" | "test"
    start: int
    end: int
    params: dict[str, float | int] = field(default_factory=dict)
    trial: int | None = None


def default_runner() -> Runner:
    from coinpilot.backtest.engine import run_backtest

    runner: Runner = run_backtest
    return runner


def window_input(ctx: TrialContext, task: Task, warmup: int) -> tuple[Candles, datetime]:
    """The candles passed to the backtest for ``task`` and the first decision time.

    ``warmup`` candles before the window are included (fewer at the start of the series): the
    signal window live fetches (``required_candles + 2``); none after the window.
    """
    c = ctx.candles
    lo = max(0, task.start - warmup)
    sl = slice(lo, task.end)
    window = Candles(
        c.pair, c.granularity, c.start[sl], c.open[sl], c.high[sl], c.low[sl], c.close[sl], c.volume[sl]
    )
    return window, datetime.fromtimestamp(int(c.start[task.start]), UTC)


def evaluate(ctx: TrialContext, task: Task) -> dict[str, Any]:
    """Run one backtest and return its figures and objective value (a small JSON-able dict)."""
    granularity = ctx.candles.granularity
    patch = params_to_patch(ctx.base_fields, task.params, granularity)
    fields = {**ctx.base_fields, **patch}
    cfg = bot_config_from_fields(fields)
    spec = BacktestSpec(
        bot=cfg,
        limits=ctx.limits,
        product=ctx.product,
        starting_cash=ctx.starting_cash,
        fee_rate=ctx.fee_rate,
        slippage_bps=ctx.slippage_bps,
        strategy_raw=fields.get("strategy") or {},
        label=f"fold {task.fold} {task.phase}",
    )
    candles, start = window_input(ctx, task, required_candles(cfg.signals) + 2)
    runner = ctx.runner or default_runner()
    result = runner(spec, candles, start=start)
    f = figures(result)
    return {"score": score(f, ctx.objective, ctx.max_drawdown_pct), **f.to_dict()}


class TrialExecutor(Protocol):
    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Trials one after the other in this process (``--jobs 1``; the tests' default)."""

    def __init__(self, ctx: TrialContext) -> None:
        self.ctx = ctx

    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        return (evaluate(self.ctx, t) for t in tasks)

    def close(self) -> None:
        pass


_WORKER_CTX: TrialContext | None = None


def _init_worker(ctx: TrialContext) -> None:
    global _WORKER_CTX
    _WORKER_CTX = ctx


def _evaluate_in_worker(task: Task) -> dict[str, Any]:
    assert _WORKER_CTX is not None, "worker started without its context"
    return evaluate(_WORKER_CTX, task)


class ProcessExecutor:
    """``jobs`` local processes; the context is pickled once per process at start-up."""

    def __init__(self, ctx: TrialContext, jobs: int) -> None:
        import multiprocessing

        self._pool: Executor = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(ctx,),
        )

    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        return self._pool.map(_evaluate_in_worker, tasks)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _evaluate_remote(task: Task, ctx: TrialContext) -> dict[str, Any]:
    return evaluate(ctx, task)


class DaskExecutor:
    """Trials on an existing Dask ``distributed`` cluster (its workers need Coinpilot installed).

    The context is scattered to every worker once; each batch is a ``client.map`` gathered in
    order.
    """

    def __init__(self, ctx: TrialContext, address: str) -> None:
        import distributed

        client_cls: Any = distributed.Client  # untyped library
        self._client: Any = client_cls(address, set_as_default=False)
        [self._ctx] = self._client.scatter([ctx], broadcast=True, hash=False)

    def map(self, tasks: Sequence[Task]) -> Iterator[dict[str, Any]]:
        futures = self._client.map(_evaluate_remote, list(tasks), ctx=self._ctx, pure=False)
        return iter(self._client.gather(futures))

    def close(self) -> None:
        self._client.close()


def make_executor(ctx: TrialContext, jobs: int = 1, dask_address: str | None = None) -> TrialExecutor:
    if dask_address:
        return DaskExecutor(ctx, dask_address)
    if jobs > 1:
        return ProcessExecutor(ctx, jobs)
    return SerialExecutor(ctx)
