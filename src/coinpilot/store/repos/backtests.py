"""Backtest runs requested over the API: insert, state changes, reads (table ``backtest_runs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from coinpilot.domain.types import BacktestStatus, Granularity
from coinpilot.store.models import BacktestRun

UNFINISHED = (BacktestStatus.QUEUED, BacktestStatus.RUNNING)


def create_run(
    session: Session,
    *,
    now: datetime,
    label: str,
    pair: str,
    granularity: Granularity,
    request: dict[str, Any],
    bot_id: int | None,
    requested_by: str,
) -> BacktestRun:
    run = BacktestRun(
        mode="backtest",
        status=BacktestStatus.QUEUED,
        label=label,
        pair=pair,
        granularity=granularity,
        request=request,
        bot_id=bot_id,
        requested_by=requested_by,
        progress=0.0,
        created_at=now,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int, *, with_report: bool = False) -> BacktestRun | None:
    options = [undefer(BacktestRun.report), undefer(BacktestRun.chart)] if with_report else []
    return session.get(BacktestRun, run_id, options=options)


def list_runs(
    session: Session, limit: int = 50, status: BacktestStatus | None = None, bot_id: int | None = None
) -> list[BacktestRun]:
    q = sa.select(BacktestRun).order_by(BacktestRun.id.desc()).limit(limit)
    if status is not None:
        q = q.where(BacktestRun.status == status)
    if bot_id is not None:
        q = q.where(BacktestRun.bot_id == bot_id)
    return list(session.scalars(q))


def mark_running(session: Session, run_id: int, now: datetime) -> None:
    session.execute(
        sa.update(BacktestRun)
        .where(BacktestRun.id == run_id)
        .values(status=BacktestStatus.RUNNING, started_at=now, progress=0.0)
    )


def mark_done(
    session: Session,
    run_id: int,
    now: datetime,
    summary: dict[str, Any],
    report: dict[str, Any],
    chart: dict[str, Any],
) -> None:
    session.execute(
        sa.update(BacktestRun)
        .where(BacktestRun.id == run_id)
        .values(
            status=BacktestStatus.DONE,
            finished_at=now,
            progress=1.0,
            summary=summary,
            report=report,
            chart=chart,
        )
    )


def mark_failed(session: Session, run_id: int, now: datetime, error: str) -> None:
    session.execute(
        sa.update(BacktestRun)
        .where(BacktestRun.id == run_id)
        .values(status=BacktestStatus.FAILED, finished_at=now, error=error[:1000])
    )


def fail_unfinished(session: Session, now: datetime, error: str) -> int:
    """Runs a previous server process queued or started and never finished (runs live in its
    memory): failed, with the reason, so nobody waits for them."""
    result = session.execute(
        sa.update(BacktestRun)
        .where(BacktestRun.status.in_(UNFINISHED))
        .values(status=BacktestStatus.FAILED, finished_at=now, error=error)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
