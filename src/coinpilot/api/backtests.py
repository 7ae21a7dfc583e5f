"""Backtests over the API: request one (it runs in the background), poll it, fetch its report.

``POST /backtests`` takes a stored bot (``bot_id``) or a bot's fields (``bot``, the same fields
and rules as creating a bot), the shipped candles of a pair (uploading candle files is the CLI's
``--data``), a period and starting cash; it answers 202 with the run's id at once. Runs go one
at a time per server (see :mod:`coinpilot.api.backtest_runs`). Results are stored with mode
``backtest``; the analytics report lists them beside, never inside, mock and production.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from coinpilot.api import backtest_inputs as inputs
from coinpilot.api.backtest_runs import Job, runner_for
from coinpilot.api.deps import get_services, require_token
from coinpilot.api.errors import NotFound
from coinpilot.api.field_errors import FieldValidationError
from coinpilot.api.strict_types import MAX_ID, FiniteJsonObject, PlainDecimal, StrictInt
from coinpilot.backtest.data import CandleDataError, shipped_candles, window
from coinpilot.domain.bot import PAIR_PATTERN, BotConfig
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import FieldError
from coinpilot.domain.types import BacktestStatus, Granularity
from coinpilot.services import Services
from coinpilot.store import bots as bot_repo
from coinpilot.store.db import read_session, session_scope
from coinpilot.store.models import BacktestRun
from coinpilot.store.repos import backtests as repo

router = APIRouter(tags=["backtests"])
RunIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a backtest run id")]


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bot_id: StrictInt | None = Field(default=None, ge=1, le=MAX_ID, description="a stored bot's settings")
    bot: FiniteJsonObject | None = Field(
        default=None, description="or a bot's fields, as for POST /bots (name optional)"
    )
    pair: str | None = Field(default=None, max_length=21, description="default: the bot's pair")
    granularity: Granularity | None = Field(default=None, description="default: the bot's")
    start: AwareDatetime | None = Field(default=None, description="first candle (inclusive)")
    end: AwareDatetime | None = Field(default=None, description="end (exclusive)")
    starting_cash: PlainDecimal = Field(default=Decimal(1000), max_digits=20)
    label: str = Field(default="", max_length=64)


def _summary(run: BacktestRun, progress: float | None) -> dict[str, Any]:
    """``progress`` is the runner's live figure; once the stored run is finished the stored one
    wins (the runner forgets a run just after storing its result, so a poll in between must not
    show a finished run at less than 100 %)."""
    if run.status in (BacktestStatus.DONE, BacktestStatus.FAILED):
        progress = None
    return {
        "id": run.id,
        "mode": run.mode,
        "status": run.status.value,
        "progress": progress if progress is not None else run.progress,
        "label": run.label,
        "bot_id": run.bot_id,
        "pair": run.pair,
        "granularity": run.granularity.value,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
        "summary": run.summary,
        "report_url": f"/api/v1/backtests/{run.id}/report.html"
        if run.status == BacktestStatus.DONE
        else None,
    }


def _prefixed(exc: FieldValidationError, prefix: str) -> FieldValidationError:
    return FieldValidationError([FieldError(f"{prefix}.{e.field}", e.message) for e in exc.errors])


def _configuration(body: BacktestRequest, services: Services) -> tuple[BotConfig, dict[str, Any] | None, str]:
    """The stored bot's settings, or the fields sent checked as for creating a bot (errors
    named ``bot.<field>``); the pair asked for replaces the bot's."""
    strategy_raw: dict[str, Any] | None
    if body.bot_id is not None:
        with read_session(services.sessions) as s:
            row = bot_repo.get_bot(s, body.bot_id)
            if row is None:
                raise NotFound(f"bot {body.bot_id}")
            cfg, strategy_raw, label = bot_repo.bot_config(row), row.strategy, row.name
    else:
        assert body.bot is not None
        values = dict(body.bot)
        if body.pair is not None:
            values.setdefault("pair", body.pair)
        try:
            cfg, strategy_raw = inputs.bot_from_fields(values, services.settings.safety_limits)
        except FieldValidationError as exc:
            raise _prefixed(exc, "bot") from None
        label = str(values.get("name") or "backtest")
    if body.pair is not None and body.pair != cfg.pair:
        cfg = dataclasses.replace(cfg, pair=body.pair)
    return cfg, strategy_raw, label


def _period(
    pair: str, granularity: Granularity, start: datetime | None, end: datetime | None
) -> tuple[Candles, Candles]:
    """The shipped series and its ``[start, end)`` part; refused now (422) when the data has no
    such pair or period, not after queueing."""
    try:
        full = _shipped_series(pair, granularity)
    except CandleDataError as exc:
        raise FieldValidationError([FieldError("pair", str(exc))]) from None
    picked = window(full, start, end)
    if len(picked) == 0:
        first, last = (datetime.fromtimestamp(int(t), UTC) for t in (full.start[0], full.start[-1]))
        message = (
            f"no candles in that period; the shipped {pair} data covers {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        )
        raise FieldValidationError([FieldError("start", message)])
    return full, picked


@router.post(
    "/backtests",
    status_code=202,
    summary="Start a backtest in the background (one runs at a time; others queue)",
)
def create_backtest(
    body: BacktestRequest,
    request: Request,
    services: Services = Depends(get_services),
    actor: str = Depends(require_token),
) -> dict[str, Any]:
    settings = services.settings
    if (body.bot_id is None) == (body.bot is None):
        raise FieldValidationError([FieldError("bot_id", "give exactly one of bot_id or bot")])
    if body.pair is not None and not PAIR_PATTERN.fullmatch(body.pair):
        raise FieldValidationError([FieldError("pair", "must look like BTC-USD (upper-case BASE-QUOTE)")])
    if body.start and body.end and body.end <= body.start:
        raise FieldValidationError([FieldError("end", "must be after start")])
    cfg, strategy_raw, label = _configuration(body, services)
    spec, _note = inputs.make_spec(
        inputs.with_granularity(cfg, body.granularity),
        strategy_raw,
        settings.safety_limits,
        fee_rate=settings.paper_fee_rate,
        slippage_bps=settings.paper_slippage_bps,
        starting_cash=body.starting_cash,
        label=body.label or label,
    )
    pair, granularity = spec.bot.pair, spec.bot.granularity
    full, picked = _period(pair, granularity, body.start, body.end)
    # made before the row: a new runner fails the rows a previous process left unfinished
    runner = runner_for(request.app.state, services.sessions, services.clock)
    with session_scope(services.sessions) as s:
        run = repo.create_run(
            s,
            now=services.clock.now(),
            label=spec.label,
            pair=pair,
            granularity=granularity,
            request=body.model_dump(mode="json"),
            bot_id=body.bot_id,
            requested_by=actor,
        )
        run_id = run.id
    # history before ``start`` warms the signals up, so the first decision is on ``start``
    runner.submit(
        Job(run_id, spec, lambda: inputs.with_history(full, picked, inputs.warmup_candles(spec.bot)))
    )
    return {"id": run_id, "status": "queued", "poll": f"/api/v1/backtests/{run_id}"}


@functools.lru_cache(maxsize=8)
def _shipped_series(pair: str, granularity: Granularity) -> Candles:
    """A pair's shipped candles (kept: the files are parsed once per server and granularity)."""
    return shipped_candles(pair, granularity)


@router.get("/backtests", summary="Backtest runs, newest first (mode 'backtest')")
def list_backtests(
    request: Request,
    limit: int = Query(default=50, ge=1, le=500),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    runner = getattr(request.app.state, "backtests", None)
    with read_session(services.sessions) as s:
        runs = repo.list_runs(s, limit)
        return {
            "mode": "backtest",
            "runs": [_summary(r, runner.progress(r.id) if runner else None) for r in runs],
        }


def _run_or_404(services: Services, run_id: RunIdPath, with_report: bool = False) -> BacktestRun:
    with read_session(services.sessions) as s:
        run = repo.get_run(s, run_id, with_report=with_report)
        if run is None:
            raise NotFound(f"backtest {run_id}")
        s.expunge(run)
        return run


@router.get("/backtests/{run_id}", summary="A run's status, progress (0-1) and, when done, its figures")
def get_backtest(
    run_id: RunIdPath,
    request: Request,
    full: bool = Query(default=False, description="include the whole JSON report when done"),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    run = _run_or_404(services, run_id, with_report=full)
    runner = getattr(request.app.state, "backtests", None)
    out = _summary(run, runner.progress(run.id) if runner else None)
    if full:
        out["report"] = run.report
    return out


@router.get(
    "/backtests/{run_id}/report.html",
    summary="The run's self-contained HTML report (opens offline when saved)",
    response_class=HTMLResponse,
)
def backtest_report_html(run_id: RunIdPath, services: Services = Depends(get_services)) -> HTMLResponse:
    from coinpilot.backtest.report_html import content_security_policy, render_document

    run = _run_or_404(services, run_id, with_report=True)
    if run.status != BacktestStatus.DONE or run.report is None or run.chart is None:
        raise NotFound(f"the report of backtest {run_id} (status {run.status.value})")
    page = render_document(run.report, run.chart)
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": content_security_policy(page),
            "Content-Disposition": f'inline; filename="backtest-{run_id}.html"',
        },
    )
